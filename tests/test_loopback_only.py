"""Servers the project or the suite starts listen on loopback only.

``conftest``'s listener watch checks every process of the run all run long; these tests check
that the watch sees what it must, and the Dask cluster started with the project's commands on
the spot.
"""

import os
import signal
import subprocess
import sys
import time
from infra.processes import proc_stat
from tests.listeners import listeners_of

WIDE_SERVER = """
import os, socket, sys, time
from pathlib import Path
go, grandchild = Path(sys.argv[1]), Path(sys.argv[2])
if os.fork() == 0:  # the grandchild: outlives its parent, then listens wide
    grandchild.write_text(str(os.getpid()))
    while go.exists():
        time.sleep(0.05)
    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen()
    grandchild.write_text("listening")
    time.sleep(60)
else:
    while go.exists():  # the parent exits first: init adopts the grandchild
        time.sleep(0.05)
"""


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_watch_names_an_orphaned_descendant_listening_wide(tmp_path, listener_watch):
    go, grandchild = tmp_path / "go", tmp_path / "grandchild"
    go.touch()
    parent = subprocess.Popen([sys.executable, "-c", WIDE_SERVER, str(go), str(grandchild)])
    _wait_for(lambda: grandchild.exists() and grandchild.read_text().isdigit())
    pid = int(grandchild.read_text())
    try:
        listener_watch.sample()  # what the watch's thread does twice a second, while the parent lives
        go.unlink()
        parent.wait(timeout=10)
        _wait_for(lambda: grandchild.read_text() == "listening")
        assert proc_stat(pid)["ppid"] != parent.pid
        assert pid in listener_watch.our_pids()  # no longer a descendant, still the run's

        wide = listener_watch.unreported()

        assert [(listener.pid, listener.address, listener.loopback) for listener in wide] == [(pid, "0.0.0.0", False)]
        assert "listens on 0.0.0.0:" in str(wide[0])
    finally:
        os.kill(pid, signal.SIGTERM)


def test_dask_scheduler_and_workers_listen_on_loopback_only(dask_servers):
    pids = set().union(*(server.session_pids() for server in dask_servers.servers))
    found = listeners_of(pids)

    port = int(dask_servers.address.rsplit(":", 1)[1])
    assert port in {listener.port for listener in found}
    assert len(found) >= 1 + 2 * 3  # the scheduler's HTTP server, and each worker's and nanny's servers
    assert [str(listener) for listener in found if not listener.loopback] == []
