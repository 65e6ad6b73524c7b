"""The gateway's workers, over real HTTP: SIGKILL of one under load (the master keeps the port and
starts another), ``/-/gateway`` summing what every worker has in flight whichever one answers, and
a route switch reported only once every worker made it.

The figures of the kill are printed (``-s``); the bound is loose because the suite's other worker
shares the 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from bento_services.gateway import STATUS_PATH, write_route
from bento_services.gateway_workers import SharedPage
from infra.processes import Process, children, proc_stat
from tests.servers import Server, free_port, until

pytestmark = pytest.mark.timeout(120)


def _backend(tmp_path, name: str, *options: str) -> tuple[str, Server]:
    port = free_port()
    server = Server([sys.executable, "-m", "tests.bento_services.replica_backend", "--port", str(port),
                     "--name", name, *options], tmp_path / f"replica-{name}.log")
    server.wait_http(f"http://127.0.0.1:{port}/readyz")
    return f"http://127.0.0.1:{port}", server


@pytest.fixture
def start(tmp_path):
    """Start a backend per name (with options) and a gateway of two workers routing to the first."""
    started: list[Server] = []

    def start_gateway(*names: str, options: tuple[str, ...] = ()) -> tuple[str, dict[str, str], Server]:
        upstreams = {}
        for name in names:
            upstreams[name], server = _backend(tmp_path, name, *options)
            started.append(server)
        routes, port = tmp_path / "route.json", free_port()
        write_route(routes, {"upstreams": [upstreams[names[0]]], "model_name": "m", "model_version": 1})
        gateway = Server([sys.executable, "-m", "bento_services.gateway", "--port", str(port), "--routes",
                          str(routes), "--workers", "2"], tmp_path / "gateway.log")
        started.append(gateway)
        url = f"http://127.0.0.1:{port}"
        gateway.wait_until(lambda: len(_workers(gateway)) == 2 and _status(url)["workers_agree"]
                           and len(_status(url)["workers"]) == 2, "the gateway's two workers")
        return url, upstreams, gateway

    yield start_gateway
    for server in reversed(started):
        server.stop()


def _status(url: str) -> dict:
    try:
        return httpx.get(f"{url}{STATUS_PATH}", timeout=5).json()
    except httpx.TransportError:
        return {"workers": {}, "workers_agree": False}


def _workers(gateway: Server) -> list[Process]:
    return children(Process("gateway", gateway.pid, proc_stat(gateway.pid)["start_ticks"], str(gateway.log)))



def test_a_killed_worker_costs_a_handful_of_requests_and_the_master_starts_another(start):
    url, _, gateway = start("a")
    answered, failed, stop = [0, 0], [0, 0], threading.Event()

    def client(slot: int) -> None:
        with httpx.Client(timeout=10) as http:  # kept-alive connections, as a real client's
            while not stop.is_set():
                try:
                    ok = http.post(f"{url}/predict", content=b'{"x": 1}').status_code == 200
                except httpx.TransportError:
                    ok = False
                answered[slot] += ok
                failed[slot] += not ok

    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    [victim, survivor] = _workers(gateway)
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    replaced = until(lambda: len([w for w in _workers(gateway) if w.pid != victim.pid]) == 2, timeout=5)
    replaced_after = time.monotonic() - killed_at
    time.sleep(max(0.0, 2.0 - replaced_after))
    stop.set()
    for thread in threads:
        thread.join()
    print(f"gateway worker SIGKILL: {sum(answered) + sum(failed)} requests by 2 clients back to back, "
          f"{sum(failed)} failed; a new worker after {replaced_after:.2f} s")
    assert sum(failed) <= 10 and sum(answered) > 200
    assert replaced and survivor.pid in {w.pid for w in _workers(gateway)}
    assert until(lambda: len(_status(url)["workers"]) == 2 and _status(url)["workers_agree"])
    assert httpx.post(f"{url}/predict", content=b"{}").status_code == 200


def test_every_worker_reports_what_all_of_them_have_in_flight(start):
    delay = 8.0  # long enough to keep opening connections until the kernel has given both workers some
    url, upstreams, _ = start("slow", options=("--delay", str(delay)))
    held: list[threading.Thread] = []

    def hold() -> None:
        httpx.post(f"{url}/predict", content=b"{}", timeout=30)  # a new connection each: any worker takes it

    def spread() -> bool:  # until both workers hold some
        return sum(bool(worker["in_flight"]) for worker in _status(url)["workers"].values()) == 2

    first_answer = time.monotonic() + delay
    while not spread() and time.monotonic() < first_answer - delay / 2:
        held.append(threading.Thread(target=hold))
        held[-1].start()
        time.sleep(0.05)
    assert spread(), f"the kernel gave all {len(held)} requests of {delay / 2:.0f} s to one worker"
    assert until(lambda: _status(url)["in_flight"].get(upstreams["slow"]) == len(held), timeout=1)
    answers = {}
    while len(answers) < 2 and time.monotonic() < first_answer - 0.5:  # before a held request is answered
        status = _status(url)
        answers[status["answered_by"]] = status["in_flight"].get(upstreams["slow"])
    print(f"{len(held)} requests held by 2 workers: {_status(url)['workers']}; answers by worker: {answers}")
    assert len(answers) == 2 and set(answers.values()) == {len(held)}  # the sum, whichever worker answers
    for thread in held:
        thread.join()
    assert until(lambda: _status(url)["in_flight"] == {}, timeout=5)


def test_a_route_switch_is_reported_once_every_worker_made_it(tmp_path, start):
    url, upstreams, gateway = start("a", "b")
    routes = tmp_path / "route.json"
    write_route(routes, {"upstreams": [upstreams["b"]], "model_name": "m", "model_version": 2})
    first, second = _workers(gateway)
    os.kill(first.pid, signal.SIGHUP)  # one worker switched, the other not yet
    assert until(lambda: str(first.pid) in _status(url)["workers"]
                  and _status(url)["workers"][str(first.pid)]["upstreams"] == [upstreams["b"]])
    for _ in range(6):  # whichever worker answers
        status = _status(url)
        assert (status["upstreams"], status["workers_agree"]) == ([upstreams["a"]], False)
    gateway.process.send_signal(signal.SIGHUP)  # the master tells every worker
    assert until(lambda: _status(url)["workers_agree"])
    assert _status(url)["upstreams"] == [upstreams["b"]] and set(_status(url)["workers"]) == \
        {str(first.pid), str(second.pid)}  # the same workers: switched, not restarted
    assert {httpx.post(f"{url}/predict", content=b"{}").json()["replica"] for _ in range(6)} == {"b"}
    assert json.loads(routes.read_text())["model_version"] == _status(url)["model_version"] == 2


def test_a_worker_started_in_place_of_a_dead_one_takes_its_number(tmp_path):
    page = SharedPage(tmp_path / "rotation.lock")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert page.claim_slot(dead.pid) == 0
    assert page.claim_slot(os.getpid()) == 0  # its holder is gone: the number is free again
    assert page.claim_slot(os.getppid()) == 1
    assert page.claim_slot(os.getpid()) == 0  # a worker asking again keeps its own
