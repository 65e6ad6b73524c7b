"""The gateway as a pre-fork server: gunicorn's master holds the model's port and keeps ``workers``
aiohttp processes (``bento_services.gateway``) accepting on it, and replaces one that dies by itself.
A worker killed mid-request loses only its own connections; the listening socket, and the
connections waiting on it, stay with the master and the other workers.

What the workers share, so that they act as one gateway:
- the route: SIGHUP to the master is passed on to every worker, which reads the route file again
  (gunicorn's own SIGHUP would replace the workers and lose their counts and queued copies);
- a page of memory the master maps before it forks (``SharedPage``): the replicas out of rotation,
  written under a file lock the kernel releases if its holder dies, so a replica one worker found
  gone or not ready is left alone by every worker at once; and each worker's number, which says
  which replica it prefers when they are equally busy;
- their state, for ``/-/gateway``: the worker that answers asks each other worker (its master's
  children) over an abstract unix socket (``gather_snapshots``) and sums the answers, so requests
  in flight per backend are exact whichever worker answers. A worker not listening yet has served
  nothing; a dead one has nothing in flight (its connections died with it). Prometheus values are
  kept per process in ``PROMETHEUS_MULTIPROC_DIR`` and summed; a dead worker's in-flight gauge is
  dropped (``child_exit``), its counts stay. What only a worker's memory held leaves with it: its
  share of the traffic window and of the challenge's counts in ``/-/gateway``, and the copies it
  had queued for a challenger.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import json
import mmap
import os
import shutil
import signal
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from infra.processes import Process, children, file_lock

PAGE_SIZE = 64 * 1024
PEER_TIMEOUT = 2.0  # a worker's event loop answers in microseconds unless it is stuck
WORKER_CLASS = "aiohttp.worker.GunicornUVLoopWebWorker"  # aiohttp's GunicornWebWorker, on uvloop
_PR_SET_PDEATHSIG = 1
MAX_SLOTS = 64  # worker numbers handed out (a gateway runs a few workers)
_VERSION, _LENGTH, _DATA = 0, 8, 12
_SLOTS = PAGE_SIZE - 4 * MAX_SLOTS  # the pid holding each worker number, at the end of the page


class SharedPage:
    """Memory the master maps before it forks, shared by its workers: the replicas out of rotation
    (JSON, changed under ``lock`` and read again when its version moves), and which worker holds
    which small number (``claim_slot``)."""

    def __init__(self, lock: Path):
        self.memory = mmap.mmap(-1, PAGE_SIZE)  # anonymous and shared: the workers see one page
        self.lock = lock
        self._version, self._out = 0, {}

    @property
    def out_of_rotation(self) -> dict[str, str]:
        """Replica -> why it gets no traffic; the same in every worker."""
        if struct.unpack_from("<Q", self.memory, _VERSION)[0] != self._version:
            with file_lock(self.lock):
                self._version, self._out = self._read()
        return self._out

    def change(self, upstream: str, why: str | None) -> bool:
        """Take ``upstream`` out of rotation (``why``) or put it back (None); True if that changed it."""
        with file_lock(self.lock):
            version, out = self._read()
            if out.get(upstream) == why or (why is None and upstream not in out):
                self._version, self._out = version, out
                return False
            out = {key: value for key, value in out.items() if key != upstream}
            if why is not None:
                out[upstream] = why[:500]
            self._write(version + 1, out)
            self._version, self._out = version + 1, out
            return True

    def keep_only(self, upstreams: list[str]) -> None:
        """Forget replicas no route names any more."""
        with file_lock(self.lock):
            version, out = self._read()
            kept = {key: value for key, value in out.items() if key in upstreams}
            if kept != out:
                self._write(version + 1, kept)

    def claim_slot(self, pid: int) -> int:
        """The lowest number no live worker holds, now this one's: a worker started in place of a
        dead one takes its number."""
        with file_lock(self.lock):
            holders = struct.unpack_from(f"<{MAX_SLOTS}I", self.memory, _SLOTS)
            for slot, holder in enumerate(holders):
                if holder in (0, pid) or not _alive(holder):
                    struct.pack_into("<I", self.memory, _SLOTS + 4 * slot, pid)
                    return slot
        return pid % MAX_SLOTS

    def _read(self) -> tuple[int, dict[str, str]]:
        version, length = struct.unpack_from("<QI", self.memory, _VERSION)
        try:
            return version, json.loads(self.memory[_DATA:_DATA + length]) if length else {}
        except ValueError:  # a writer killed mid-write: the next probe takes each replica out again
            return version, {}

    def _write(self, version: int, out: dict[str, str]) -> None:
        data = json.dumps(out).encode()
        if _DATA + len(data) > _SLOTS:
            raise ValueError(f"{len(out)} replicas out of rotation do not fit in {_SLOTS - _DATA} bytes")
        self.memory[_DATA:_DATA + len(data)] = data
        struct.pack_into("<QI", self.memory, _VERSION, version, len(data))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _peer_address(pid: int) -> str:
    return f"\0modelyard-gateway-{pid}"  # abstract: no file to clean up, gone with its process


async def serve_peers(snapshot: Callable[[], dict]) -> asyncio.AbstractServer:
    """Answer the other workers' ``gather_snapshots`` with this worker's state."""
    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(json.dumps(snapshot()).encode())
        await writer.drain()
        writer.close()

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(_peer_address(os.getpid()))
    return await asyncio.start_unix_server(answer, sock=listener)


async def gather_snapshots(own: dict) -> tuple[list[dict], list[int]]:
    """This worker's state and every other live worker's; and the workers that did not answer in
    ``PEER_TIMEOUT`` (their state unknown, so nothing can be said drained)."""
    peers = [process.pid for process in children(Process("gateway", os.getppid(), 0, ""))
             if process.pid != os.getpid()]
    answers = await asyncio.gather(*(_ask(pid) for pid in peers))
    snapshots = [own, *(answer for answer in answers if isinstance(answer, dict))]
    return snapshots, [pid for pid, answer in zip(peers, answers) if answer is TimeoutError]


async def _ask(pid: int) -> dict | type[TimeoutError] | None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(connection, _peer_address(pid)), PEER_TIMEOUT)
            return json.loads(await asyncio.wait_for(_read_all(loop, connection), PEER_TIMEOUT))
        except (ConnectionRefusedError, FileNotFoundError, ConnectionResetError, ValueError):
            return None  # starting (it has served nothing yet) or dead (nothing in flight)
        except asyncio.TimeoutError:
            return TimeoutError


async def _read_all(loop: asyncio.AbstractEventLoop, connection: socket.socket) -> bytes:
    chunks = []
    while chunk := await loop.sock_recv(connection, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


class _Arbiter(Arbiter):
    def handle_hup(self) -> None:
        """The route file changed: every worker reads it again, keeping its state."""
        self.log.info("route changed: telling %d workers", len(self.WORKERS))
        self.kill_workers(signal.SIGHUP)


class _Server(BaseApplication):
    def __init__(self, app: Callable[[], Awaitable], options: dict):
        self.app, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Callable[[], Awaitable]:
        return self.app

    def run(self) -> None:
        _Arbiter(self).run()


def serve(make_app: Callable[[SharedPage], Awaitable], *, host: str, port: int, workers: int, state: Path,
          graceful_timeout: float) -> None:
    """Run the master (this process) until SIGTERM; each worker builds its app with ``make_app``."""
    metrics = state / "metrics"
    shutil.rmtree(metrics, ignore_errors=True)  # counts start with the gateway
    metrics.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    shared = SharedPage(state / "rotation.lock")
    options = {
        "bind": f"{host}:{port}", "workers": workers, "worker_class": WORKER_CLASS,
        "graceful_timeout": graceful_timeout, "keepalive": 75, "accesslog": None, "errorlog": "-",
        "loglevel": "info", "control_socket_disable": True, "proc_name": f"modelyard-gateway-{port}",
        "post_fork": _die_with_master, "child_exit": functools.partial(_forget_worker, metrics),
    }
    _Server(functools.partial(make_app, shared), options).run()


def _die_with_master(server: Arbiter, worker) -> None:
    """In the worker: SIGTERM (a graceful stop) when the master dies, rather than serve on alone."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != server.pid:
        os.kill(os.getpid(), signal.SIGTERM)


def _forget_worker(metrics: Path, server: Arbiter, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(metrics))
