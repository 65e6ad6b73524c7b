"""The gateway in front of replicas, over real HTTP: the least busy replica, failover on a replica that is gone,
the rotation following ``/readyz``, answers never retried, a version switch of the route file.

The replicas are small aiohttp servers (``replica_backend``) so a test can kill and restart one
in milliseconds; the fault test with real ``bentoml serve`` replicas is in ``test_replicas``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bento_services.gateway import STATUS_PATH, write_route
from tests.servers import Server, free_port, until

pytestmark = pytest.mark.timeout(120)


def _replica(tmp_path, name: str, port: int, *options: str) -> Server:
    server = Server([sys.executable, "-m", "tests.bento_services.replica_backend", "--port", str(port),
                     "--name", name, "--not-ready", str(tmp_path / f"{name}.not-ready"),
                     "--cut", str(tmp_path / f"{name}.cut"), *options],
                    tmp_path / f"replica-{name}-{time.monotonic_ns()}.log")
    server.wait_http(f"http://127.0.0.1:{port}/readyz")
    return server


@pytest.fixture
def replicas(tmp_path):
    ports = {"a": free_port(), "b": free_port()}
    servers = {name: _replica(tmp_path, name, port) for name, port in ports.items()}
    yield ports, servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def gateway(tmp_path, replicas):
    ports, _ = replicas
    routes, port = tmp_path / "route.json", free_port()
    write_route(routes, {"upstreams": [f"http://127.0.0.1:{p}" for p in ports.values()], "model_name": "m",
                         "model_version": 1})
    server = Server([sys.executable, "-m", "bento_services.gateway", "--port", str(port), "--routes", str(routes)],
                    tmp_path / "gateway.log")
    server.wait_http(f"http://127.0.0.1:{port}{STATUS_PATH}")
    yield f"http://127.0.0.1:{port}", routes, server
    server.stop()


def _status(url: str) -> dict:
    return httpx.get(f"{url}{STATUS_PATH}").json()



def test_one_caller_stays_on_one_replica_and_callers_at_once_spread_over_both(tmp_path):
    ports = {"a": free_port(), "b": free_port()}
    slow = {name: _replica(tmp_path, name, port, "--delay", "0.3") for name, port in ports.items()}
    routes, port = tmp_path / "route.json", free_port()
    write_route(routes, {"upstreams": [f"http://127.0.0.1:{p}" for p in ports.values()], "model_name": "m",
                         "model_version": 1})
    server = Server([sys.executable, "-m", "bento_services.gateway", "--port", str(port), "--routes", str(routes)],
                    tmp_path / "gateway.log")
    try:
        url = f"http://127.0.0.1:{port}"
        server.wait_http(f"{url}{STATUS_PATH}")
        with httpx.Client() as caller:  # one kept connection: one worker
            one_by_one = Counter(caller.post(f"{url}/predict", content=b"{}").json()["replica"] for _ in range(4))
        with ThreadPoolExecutor(8) as pool:  # eight at once over two workers: one of them gets two or more
            at_once = Counter(pool.map(lambda _: httpx.post(f"{url}/predict", content=b"{}", timeout=10).json()
                                       ["replica"], range(8)))
    finally:
        server.stop()
        for replica in slow.values():
            replica.stop()
    assert len(one_by_one) == 1  # a warm replica rather than turns
    assert at_once["a"] > 0 and at_once["b"] > 0 and sum(at_once.values()) == 8


def test_a_killed_replica_loses_no_request_and_leaves_the_rotation(tmp_path, gateway, replicas):
    url, _, _ = gateway
    ports, servers = replicas
    failures, answers, stop = [], Counter(), threading.Event()

    def client():
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                response = http.post(f"{url}/predict", content=b'{"x": 1}')
                if response.status_code == 200:
                    answers[response.json()["replica"]] += 1
                else:
                    failures.append(response.text)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    servers["a"].stop(signal.SIGKILL)
    killed_at = sum(answers.values())
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sum(answers.values()) > killed_at + 20  # the clients went on, answered by b
    status = _status(url)
    assert status["in_rotation"] == [f"http://127.0.0.1:{ports['b']}"]
    assert f"http://127.0.0.1:{ports['a']}" in status["out_of_rotation"]
    assert status["retried"] >= 1  # requests that met the dead replica were sent to b

    servers["a"] = _replica(tmp_path, "a", ports["a"])  # back on its port: the probe puts it back
    assert until(lambda: len(_status(url)["in_rotation"]) == 2, timeout=5)
    assert until(lambda: httpx.post(f"{url}/predict", content=b"{}").json()["replica"] == "a", timeout=5)


def test_a_replica_that_is_not_ready_gets_no_traffic_until_it_is(tmp_path, gateway, replicas):
    url, _, _ = gateway
    ports, _ = replicas
    (tmp_path / "a.not-ready").touch()
    assert until(lambda: _status(url)["in_rotation"] == [f"http://127.0.0.1:{ports['b']}"], timeout=5)
    assert {httpx.post(f"{url}/predict", content=b"{}").json()["replica"] for _ in range(10)} == {"b"}
    (tmp_path / "a.not-ready").unlink()
    assert until(lambda: len(_status(url)["in_rotation"]) == 2, timeout=5)
    assert until(lambda: httpx.post(f"{url}/predict", content=b"{}").json()["replica"] == "a", timeout=5)


def test_an_answer_cut_off_by_a_dying_replica_is_sent_again_to_another(tmp_path, gateway, replicas):
    url, _, _ = gateway
    ports, _ = replicas
    (tmp_path / "a.cut").touch()  # a answers with half a body, then drops the connection
    answers = [httpx.post(f"{url}/predict", content=b"{}") for _ in range(6)]
    assert [(answer.status_code, answer.json()["replica"]) for answer in answers] == [(200, "b")] * 6
    assert httpx.get(f"http://127.0.0.1:{ports['a']}/hits").json()["count"] >= 1
    assert _status(url)["retried"] >= 1


def test_an_answer_is_passed_on_never_retried(gateway, replicas):
    url, _, _ = gateway
    ports, _ = replicas
    response = httpx.post(f"{url}/predict", content=b"bad")
    assert (response.status_code, response.json()) == (400, {"error": "bad input"})
    hits = sum(httpx.get(f"http://127.0.0.1:{port}/hits").json()["count"] for port in ports.values())
    assert hits == 1 and _status(url)["retried"] == 0


def test_with_every_replica_gone_the_client_gets_a_502_that_says_so(gateway, replicas):
    url, _, _ = gateway
    _, servers = replicas
    for server in servers.values():
        server.stop(signal.SIGKILL)
    response = httpx.post(f"{url}/predict", content=b"{}")
    assert response.status_code == 502 and "did not answer" in response.json()["error"]


def test_a_big_body_goes_through_whole(gateway):
    url, _, _ = gateway
    body = b"x" * (20 * 1024 * 1024)  # beyond what is buffered for a retry: streamed to one replica
    assert httpx.post(f"{url}/predict", content=body, timeout=30).json()["bytes"] == len(body)


def test_sighup_switches_to_the_new_route_and_an_old_route_file_still_reads(tmp_path, gateway, replicas):
    url, routes, server = gateway
    ports, _ = replicas
    routes.write_text(json.dumps({"upstream": f"http://127.0.0.1:{ports['b']}", "model_name": "m",
                                  "model_version": 2}))
    server.process.send_signal(signal.SIGHUP)
    assert until(lambda: _status(url)["upstreams"] == [f"http://127.0.0.1:{ports['b']}"])
    assert {httpx.post(f"{url}/predict", content=b"{}").json()["replica"] for _ in range(6)} == {"b"}


def test_the_request_id_is_the_clients_or_a_new_one_on_both_legs(gateway):
    url, _, _ = gateway
    given = httpx.post(f"{url}/predict", content=b"{}", headers={"X-Request-Id": "client-17"})
    assert given.headers["x-request-id"] == "client-17" and given.json()["request_id"] == "client-17"
    generated = [httpx.post(f"{url}/predict", content=b"{}") for _ in range(2)]
    ids = [answer.headers["x-request-id"] for answer in generated]
    assert [answer.json()["request_id"] for answer in generated] == ids  # the replica got the same id
    assert all(len(one) == 32 for one in ids) and ids[0] != ids[1]


def test_metrics_and_rolling_traffic_count_what_the_gateway_answered(gateway, replicas):
    from prometheus_client.parser import text_string_to_metric_families

    url, _, _ = gateway
    ports, servers = replicas
    for _ in range(12):
        assert httpx.post(f"{url}/predict", content=b"{}").status_code == 200
    assert httpx.post(f"{url}/predict", content=b"bad").status_code == 400
    assert httpx.get(f"{url}/readyz").status_code == 200  # health checks are not traffic
    for server in servers.values():
        server.stop()
    assert httpx.post(f"{url}/predict", content=b"{}").status_code == 502
    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
               for sample in family.samples}
    assert samples[("modelyard_gateway_requests_total", (("status", "200"), ("version", "1")))] == 12
    assert samples[("modelyard_gateway_requests_total", (("status", "400"), ("version", "1")))] == 1
    assert samples[("modelyard_gateway_requests_total", (("status", "502"), ("version", "1")))] == 1
    assert samples[("modelyard_gateway_errors_total", (("version", "1"),))] == 1
    assert samples[("modelyard_gateway_request_duration_seconds_count", (("version", "1"),))] == 14
    assert samples[("modelyard_gateway_requests_in_flight", ())] == 0
    traffic = _status(url)["traffic"]
    assert (traffic["requests"], traffic["errors"], traffic["total_requests"]) == (14, 1, 14)
    assert traffic["requests_per_minute"] == 14 and traffic["error_rate"] == pytest.approx(1 / 14)
    assert 0 < traffic["p50_ms"] <= traffic["p99_ms"]
