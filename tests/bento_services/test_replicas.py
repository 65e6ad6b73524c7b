"""Replicas that heal themselves, for real: a deployment of two ``bentoml serve`` replicas behind
the model's gateway, the watchdog running as its own process, clients sending requests
throughout; then SIGKILL of one replica's whole server, and of the whole gateway (its master and
workers; one worker's death is ``test_gateway_workers``').

The counts and times are printed (``-s``) for the README; the test bounds them loosely, because
the suite's other worker shares the 2 cores.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import httpx
import pytest

from bento_services.deploy import deploy_model, undeploy
from bento_services.endpoints import gateway_processes
from bento_services.gateway import STATUS_PATH
from infra.processes import Process, is_running, session_members
from registry.deployments import list_deployments
from registry.settings import Settings
from stack.service import modelyard_env
from tests.bento_services.streams import Stream
from tests.bento_services.test_deploy import NAME, ROW, _actions
from tests.servers import Server, free_port

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path_factory.mktemp("replicas"))
    train_demo_model(DEMO_MODELS[NAME], settings)
    return settings


@pytest.fixture(scope="module")
def deployed(settings):
    info = deploy_model(f"{NAME}/1", port=free_port(), replicas=2, settings=settings)
    yield info
    undeploy(NAME, settings=settings)


@pytest.fixture(scope="module")
def watchdog(settings, deployed, tmp_path_factory):
    server = Server([sys.executable, "-m", "bento_services.healing", "--interval", "1"],
                    tmp_path_factory.mktemp("watchdog") / "watchdog.log", env=modelyard_env(settings))
    server.wait_until(lambda: "watching the deployments" in server.log.read_text(), "the watchdog")
    yield server
    server.stop()


def _current(settings: Settings):
    return next(row for row in list_deployments(settings=settings, live=True) if row.status == "running")


def _gateway(url: str) -> dict:
    return httpx.get(f"{url}{STATUS_PATH}", timeout=5).json()


def test_a_deploy_runs_two_checked_replicas_behind_the_gateway(settings, deployed):
    assert len(deployed.replicas) == 2 and len({replica.port for replica in deployed.replicas}) == 2
    assert _current(settings).healthy
    status = _gateway(deployed.url)
    assert status["in_rotation"] == [replica.url for replica in deployed.replicas]


def _requests_counted(url: str) -> float:
    """Requests the gateway's /metrics counted, every version and status."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(sample.value for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
               for sample in family.samples if sample.name == "modelyard_gateway_requests_total")


def test_a_killed_replica_loses_no_request_and_is_replaced_by_the_watchdog(settings, deployed, watchdog):
    from registry.deployments import live_traffic
    from registry.metadata.db import session_scope
    from registry.metadata.tables import Deployment

    with session_scope(settings) as session:
        victim = session.get(Deployment, deployed.id).replicas[0]
    counted_before = _requests_counted(deployed.url)
    with Stream(deployed.url, ROW, threads=2) as stream:
        time.sleep(1.0)
        killed_at = time.monotonic()
        for record in victim["pids"]:  # the whole server: circusd and its worker
            if is_running(Process(**record)):
                os.kill(record["pid"], signal.SIGKILL)
        replaced_after = None
        while time.monotonic() - killed_at < 120:
            current = _current(settings)
            if current.replicas[0].port != victim["port"] and current.healthy \
                    and len(_gateway(deployed.url)["in_rotation"]) == 2:
                replaced_after = time.monotonic() - killed_at
                break
            time.sleep(0.2)
    print(f"replica SIGKILL: {len(stream.versions) + len(stream.failures)} requests, {len(stream.failures)} failed, "
          f"replaced after {replaced_after} s; the repair's steps: {_restart_seconds(settings)}")
    assert stream.failures == []
    assert replaced_after is not None and replaced_after < 60
    assert _current(settings).status_reason == "replica 0 restarted by watchdog"  # who repaired it, in status
    sent = len(stream.versions)
    assert _requests_counted(deployed.url) - counted_before == sent  # both replicas, the kill, the retries
    traffic = live_traffic(NAME, settings=settings)
    assert traffic.total_requests == _requests_counted(deployed.url) and traffic.errors == 0
    assert traffic.requests > 0 and traffic.p50_ms <= traffic.p99_ms and traffic.model_version == 1
    assert _current(settings).traffic.total_requests == traffic.total_requests  # what `modelyard status` shows
    assert "deployment_restarted" in _actions(settings)


def test_deployments_list_shows_the_last_minutes_traffic(settings, deployed, monkeypatch):
    import json

    from typer.testing import CliRunner

    from cli.main import app
    from registry.settings import get_settings

    for _ in range(3):
        httpx.post(f"{deployed.url}/predict", json=[ROW], timeout=30).raise_for_status()
    monkeypatch.setenv("MODELYARD_HOME", str(settings.home))
    monkeypatch.setenv("COLUMNS", "300")
    get_settings.cache_clear()
    try:
        listed = CliRunner().invoke(app, ["deployments", "list", "--json"], catch_exceptions=False)
        table = CliRunner().invoke(app, ["deployments", "list"], catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    [running] = [row for row in json.loads(listed.output) if row["status"] == "running"]
    assert running["traffic"]["requests"] >= 3 and running["traffic"]["p99_ms"] > 0
    assert "req/min" in table.output and "p50/p99 ms" in table.output
    print(table.output)


def _restart_seconds(settings: Settings) -> dict:
    from registry.metadata.db import session_scope
    from registry.metadata.events import events_for

    with session_scope(settings) as session:
        return next(event.details.get("seconds") for event in events_for(session, model_name=NAME)
                    if event.action == "deployment_restarted")


def test_a_killed_gateway_is_serving_again_within_seconds(settings, deployed, watchdog):
    master = gateway_processes(NAME, settings)[0]
    assert len(gateway_processes(NAME, settings)) == 1 + settings.gateway_workers
    with Stream(deployed.url, ROW, threads=2) as stream:
        time.sleep(1.0)
        killed_at = time.monotonic()
        for pid in session_members(master):  # the master and its workers, by PID
            os.kill(pid, signal.SIGKILL)
        back_after = None
        while time.monotonic() - killed_at < 60:
            try:
                if httpx.get(f"{deployed.url}{STATUS_PATH}", timeout=1).status_code == 200:
                    back_after = time.monotonic() - killed_at
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        time.sleep(2.0)  # and serving on
    window = [at - killed_at for at in stream.failed_at]
    print(f"gateway SIGKILL: {len(stream.versions) + len(stream.failures)} requests, {len(stream.failures)} failed "
          f"(2 clients retrying at once: refused connections), all within {max(window, default=0):.2f} s of the kill; "
          f"serving again after {back_after} s")
    assert back_after is not None and back_after < 30
    assert all(0 <= at <= back_after + 0.5 for at in window)  # failures only while it was down
    assert len(stream.versions) > 20 and "endpoint_restarted" in _actions(settings)
