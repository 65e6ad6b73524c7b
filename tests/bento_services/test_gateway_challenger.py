"""A challenger behind the gateway, over real HTTP: shadow copies that never touch the client's
answer, a canary's share and its stickiness, failover when the challenger is gone, the bound on
copies in flight, and a reload that ends the challenge.

Champion replicas ``a`` and ``b`` (version 1) and challenger ``c`` (version 2) are
``replica_backend`` servers, which list the requests they answered (``/seen``).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bento_services.challenger_routing import in_slice
from bento_services.gateway import STATUS_PATH, write_route
from tests.servers import Server, free_port, until

pytestmark = pytest.mark.timeout(120)

CHAMPION = {"a", "b"}


@dataclass
class Setup:
    url: str
    routes: Path
    gateway: Server
    replicas: dict[str, Server]
    ports: dict[str, int]

    def upstream(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"


def _replica(tmp_path, name: str, port: int, options: tuple[str, ...] = ()) -> Server:
    server = Server([sys.executable, "-m", "tests.bento_services.replica_backend", "--port", str(port),
                     "--name", name, *options], tmp_path / f"replica-{name}-{time.monotonic_ns()}.log")
    server.wait_http(f"http://127.0.0.1:{port}/readyz")
    return server


def _route(ports: dict[str, int], challenger: dict | None) -> dict:
    route = {"upstreams": [f"http://127.0.0.1:{ports[name]}" for name in sorted(CHAMPION)], "model_name": "m",
             "model_version": 1}
    if challenger is not None:
        route["challenger"] = {"upstreams": [f"http://127.0.0.1:{ports['c']}"], "model_version": 2,
                               "deployment_id": 12, "challenge_id": 3, "sticky_header": None, **challenger}
    return route


@pytest.fixture
def platform(tmp_path):
    """Start champion replicas a and b, challenger c (with replica options) and a gateway routing to them."""
    started: list[Server] = []

    def start(challenger: dict, *options: str) -> Setup:
        ports = {name: free_port() for name in ("a", "b", "c")}
        replicas = {name: _replica(tmp_path, name, port, options if name == "c" else ())
                    for name, port in ports.items()}
        routes, port = tmp_path / "route.json", free_port()
        write_route(routes, _route(ports, challenger))
        gateway = Server([sys.executable, "-m", "bento_services.gateway", "--port", str(port), "--routes",
                          str(routes)], tmp_path / "gateway.log")
        started.extend([gateway, *replicas.values()])
        gateway.wait_http(f"http://127.0.0.1:{port}{STATUS_PATH}")
        return Setup(f"http://127.0.0.1:{port}", routes, gateway, replicas, ports)

    yield start
    for server in started:
        server.stop()


def _status(url: str) -> dict:
    return httpx.get(f"{url}{STATUS_PATH}").json()



def _settled(url: str) -> dict:
    """The challenger's counts once no copy is queued or in flight."""
    assert until(lambda: _status(url)["challenger"]["mirror_pending"] == 0)
    return _status(url)["challenger"]


def _seen(setup: Setup, name: str) -> list[dict]:
    return httpx.get(f"{setup.upstream(name)}/seen").json()


def _metrics(url: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
            for sample in family.samples}


def _predict(http: httpx.Client, url: str, **headers: str) -> httpx.Response:
    return http.post(f"{url}/predict", content=b"{}", headers=headers)


def test_shadow_answers_every_client_from_the_champion_and_copies_each_request_once(platform):
    setup = platform({"mode": "shadow", "percent": 100.0})
    answers, failures = [], []

    def client():
        with httpx.Client(timeout=10) as http:
            for _ in range(150):
                response = _predict(http, setup.url)
                (answers if response.status_code == 200 else failures).append(response)

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and len(answers) == 300
    assert {answer.json()["replica"] for answer in answers} <= CHAMPION  # never the challenger
    status = _settled(setup.url)
    copies = _seen(setup, "c")
    assert sorted(copy["request_id"] for copy in copies) == sorted(answer.headers["x-request-id"]
                                                                   for answer in answers)
    assert all(copy["shadow"] for copy in copies)
    assert not any(copy["shadow"] for name in CHAMPION for copy in _seen(setup, name))
    assert (status["mirrored"], status["mirror_answered"], status["mirror_dropped"], status["answered"]) == \
        (300, 300, 0, 0)
    assert (status["versions"]["1"]["requests"], status["versions"]["2"]["requests"]) == (300, 300)

    assert httpx.get(f"{setup.url}/metadata").json()["replica"] in CHAMPION  # not a scoring request
    assert len(_seen(setup, "c")) == 300 and _settled(setup.url)["mirrored"] == 300


def test_a_failing_then_dead_shadow_never_reaches_the_client(platform):
    setup = platform({"mode": "shadow", "percent": 100.0}, "--status", "500")
    with httpx.Client(timeout=10) as http:
        answers = [_predict(http, setup.url) for _ in range(50)]
        assert {(answer.status_code, answer.json()["replica"] in CHAMPION) for answer in answers} == {(200, True)}
        status = _settled(setup.url)
        assert (status["mirrored"], status["mirror_errors"], status["mirror_answered"]) == (50, 50, 0)
        assert status["versions"]["2"]["error_rate"] == 1.0 and status["versions"]["1"]["errors"] == 0
        assert _metrics(setup.url)[("modelyard_gateway_mirrors_total", (("outcome", "error"), ("version", "2")))] \
            == 50

        setup.replicas["c"].stop(signal.SIGKILL)
        answers = [_predict(http, setup.url) for _ in range(50)]
    assert {(answer.status_code, answer.json()["replica"] in CHAMPION) for answer in answers} == {(200, True)}
    status = _settled(setup.url)
    assert status["mirror_failed"] >= 1 and status["mirror_failed"] + status["mirror_skipped"] == 50
    assert status["mirrored"] == 50 + status["mirror_failed"] and status["in_rotation"] == []


def test_a_canary_answers_its_share_and_the_champion_gets_a_copy_of_each(platform):
    setup = platform({"mode": "canary", "percent": 20.0})
    with httpx.Client(timeout=10) as http:
        answers = [_predict(http, setup.url) for _ in range(5000)]
    assert {answer.status_code for answer in answers} == {200}
    by_challenger = {answer.headers["x-request-id"] for answer in answers if answer.json()["replica"] == "c"}
    assert 0.17 <= len(by_challenger) / 5000 <= 0.23
    status = _settled(setup.url)
    assert (status["answered"], status["mirrored"], status["failed_over"]) == (len(by_challenger), len(by_challenger), 0)
    copies = [copy for name in CHAMPION for copy in _seen(setup, name) if copy["shadow"]]
    assert sorted(copy["request_id"] for copy in copies) == sorted(by_challenger)
    assert {copy["request_id"] for copy in _seen(setup, "c")} == by_challenger
    metrics = _metrics(setup.url)
    assert metrics[("modelyard_gateway_requests_total", (("status", "200"), ("version", "2")))] == len(by_challenger)
    assert metrics[("modelyard_gateway_requests_total", (("status", "200"), ("version", "1")))] == \
        5000 - len(by_challenger)


def test_a_sticky_canary_keeps_each_caller_on_one_side(platform):
    setup = platform({"mode": "canary", "percent": 50.0, "sticky_header": "x-user-id"})
    sides: dict[str, set[str]] = {f"user-{n}": set() for n in range(50)}
    with httpx.Client(timeout=10) as http:
        for _ in range(10):
            for user, side in sides.items():
                replica = _predict(http, setup.url, **{"x-user-id": user}).json()["replica"]
                side.add("challenger" if replica == "c" else "champion")
    assert all(len(side) == 1 for side in sides.values())
    assert Counter(next(iter(side)) for side in sides.values()).keys() == {"champion", "challenger"}


def test_a_canary_whose_challenger_is_gone_is_answered_by_the_champion(platform):
    setup = platform({"mode": "canary", "percent": 50.0})
    setup.replicas["c"].stop(signal.SIGKILL)
    ids = [uuid.uuid4().hex for _ in range(100)]
    with httpx.Client(timeout=10) as http:
        answers = [_predict(http, setup.url, **{"x-request-id": request_id}) for request_id in ids]
    assert {(answer.status_code, answer.json()["replica"] in CHAMPION) for answer in answers} == {(200, True)}
    status = _settled(setup.url)
    assert status["failed_over"] == sum(in_slice(request_id, 50.0) for request_id in ids) > 0
    assert (status["answered"], status["mirrored"]) == (0, 0)


def test_queued_copies_are_bounded_sent_four_at_a_time_and_never_slow_the_client(platform):
    setup = platform({"mode": "shadow", "percent": 100.0, "max_queued": 6}, "--delay", "2")
    latencies = []
    with httpx.Client(timeout=10) as http:
        for _ in range(40):
            started = time.perf_counter()
            assert _predict(http, setup.url).status_code == 200
            latencies.append(time.perf_counter() - started)
    status = _status(setup.url)
    challenger = status["challenger"]
    assert max(latencies) < 1.0
    assert challenger["mirror_in_flight"] == 4 and challenger["mirror_queued"] == 2  # four lanes, the rest waits
    assert challenger["mirror_dropped"] == 34 and challenger["mirrored"] == 6
    assert status["in_flight"].get(setup.upstream("c"), 0) == 6  # a queued copy keeps its replica from draining
    settled = _settled(setup.url)
    assert settled["mirror_answered"] == settled["mirrored"] == len(_seen(setup, "c"))


def test_a_reload_keeps_the_counts_of_the_same_challenge_and_ends_it_without_one(platform):
    setup = platform({"mode": "shadow", "percent": 100.0})

    def reload(challenger: dict | None):
        setup.routes.write_text(json.dumps(_route(setup.ports, challenger)))
        setup.gateway.process.send_signal(signal.SIGHUP)

    with httpx.Client(timeout=10) as http:
        for _ in range(10):
            _predict(http, setup.url)
        assert _settled(setup.url)["mirrored"] == 10
        reload({"mode": "shadow", "percent": 99.0})
        assert until(lambda: _status(setup.url)["challenger"]["percent"] == 99.0)
        assert _status(setup.url)["challenger"]["mirrored"] == 10
        reload({"mode": "shadow", "percent": 100.0, "challenge_id": 4})
        assert until(lambda: _status(setup.url)["challenger"]["challenge_id"] == 4)
        assert _status(setup.url)["challenger"]["mirrored"] == 0
        reload(None)
        assert until(lambda: _status(setup.url)["challenger"] is None)
        answers = [_predict(http, setup.url) for _ in range(10)]
    assert {answer.json()["replica"] for answer in answers} <= CHAMPION
    time.sleep(0.3)
    assert len(_seen(setup, "c")) == 10
