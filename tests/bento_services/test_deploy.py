"""Deploy lifecycle over a real ``bentoml serve``: deploy, list, undeploy, and failed deploys.

One server at a time: the deploy is undeployed before the failure cases run. The module has
its own home (the shared ``scoring_home`` moves aliases other tests read).
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import pytest

from bento_services import deploy
from bento_services.deploy import DeploymentError, NoDeploymentError, deploy_model, list_deployments, undeploy
from registry.processes import Process, is_running, launch, session_members, stop
from registry.settings import Settings
from tests.servers import free_port

NAME = "diabetes_regressor"


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path_factory.mktemp("deploy"))
    train_demo_model(DEMO_MODELS[NAME], settings)
    return settings


@dataclass
class Predecessor:
    """A running deployment recorded before the deploy under test: a real process, by PID."""

    id: int
    process: Process
    alive_during_smoke_test: list[bool]


@pytest.fixture(scope="module")
def predecessor(settings) -> Predecessor:
    """Stands in for an earlier server of the model (one bentoml server at a time on this machine)."""
    from registry.metadata.db import session_scope
    from registry.metadata.tables import Deployment

    process = launch("predecessor", [sys.executable, "-c", "import time; time.sleep(600)"],
                     env=dict(os.environ), log=settings.home / "predecessor.log")
    with session_scope(settings) as session:
        row = Deployment(model_name=NAME, model_version=1, url=f"http://127.0.0.1:{free_port()}", port=None,
                         pids=[asdict(process)], status="running", created_by="test")
        session.add(row)
        session.flush()
        predecessor = Predecessor(row.id, process, [])
    yield predecessor
    stop([process], timeout=5.0)


@pytest.fixture(scope="module")
def deployed(settings, predecessor):
    check_parity = deploy._check_parity

    def watched(*args):
        predecessor.alive_during_smoke_test.append(is_running(predecessor.process))
        check_parity(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deploy, "_check_parity", watched)
        info = deploy_model(f"{NAME}/1", port=free_port(), settings=settings)
    yield info
    if any(row.status == "running" for row in list_deployments(settings, live=False)):
        undeploy(NAME, settings)  # a failed test must not leave the server behind


def _row(settings: Settings, deployment_id: int):
    return next(row for row in list_deployments(settings, live=False) if row.id == deployment_id)


def _recorded(settings: Settings, deployment_id: int) -> list[Process]:
    from registry.metadata.db import session_scope
    from registry.metadata.tables import Deployment

    with session_scope(settings) as session:
        return [Process(**record) for record in session.get(Deployment, deployment_id).pids]


def _production(settings: Settings) -> int | None:
    from registry.store import mlflow_client

    aliases = mlflow_client(settings).get_registered_model(NAME).aliases
    return int(aliases["production"]) if "production" in aliases else None


def _actions(settings: Settings) -> list[str]:
    from registry.metadata.db import session_scope
    from registry.metadata.events import events_for

    with session_scope(settings) as session:
        return [event.action for event in events_for(session, model_name=NAME)]


def test_deploy_serves_the_version_and_makes_it_production(settings, deployed):
    assert (deployed.model_name, deployed.model_version, deployed.status) == (NAME, 1, "running")
    assert deployed.url == f"http://127.0.0.1:{deployed.port}"
    bento_name, bento_version = deployed.bento_tag.split(":")
    assert (bento_name, bento_version.split("-")[0]) == (NAME, "v1")
    assert (settings.home / "bentoml" / "bentos" / bento_name / bento_version / "src" / "model" / "MLmodel").exists()
    assert _production(settings) == 1
    assert "deployed" in _actions(settings)
    processes = _recorded(settings, deployed.id)
    assert len(processes) >= 2 and all(is_running(process) for process in processes)
    assert [process.pid for process in processes] == deployed.pids

    row = {"age": 0.02, "sex": -0.04, "bmi": 0.06, "bp": 0.02, "s1": -0.04,
           "s2": -0.03, "s3": -0.04, "s4": 0.0, "s5": 0.02, "s6": -0.02}
    response = httpx.post(f"{deployed.url}/predict", json=[row], timeout=30.0)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["model_name"], answer["model_version"]) == (NAME, 1)
    assert isinstance(answer["predictions"][0]["prediction"], float)
    assert (settings.home / "deployments" / NAME / "v1" / "model" / "MLmodel").exists()
    assert (settings.home / "deployments" / NAME / "v1" / "serve.log").exists()


def test_the_previous_deployment_is_replaced_only_after_the_checks(settings, predecessor, deployed):
    assert predecessor.alive_during_smoke_test == [True]
    assert not is_running(predecessor.process)
    replaced = _row(settings, predecessor.id)
    assert (replaced.status, replaced.status_reason) == ("replaced", f"replaced by deployment {deployed.id}")
    assert "deployment_replaced" in _actions(settings)


def test_list_deployments_checks_health(settings, predecessor, deployed):
    listed = list_deployments(settings)
    assert [(row.id, row.status, row.healthy) for row in listed] == [
        (deployed.id, "running", True), (predecessor.id, "replaced", None)]
    assert list_deployments(settings, live=False)[0].healthy is None


def test_undeploy_stops_every_recorded_process(settings, deployed):
    processes = _recorded(settings, deployed.id)
    stopped = undeploy(NAME, settings)
    assert (stopped.id, stopped.status) == (deployed.id, "stopped")
    assert not any(is_running(process) or session_members(process) for process in processes)
    assert _row(settings, deployed.id).status == "stopped"
    assert "undeployed" in _actions(settings)
    assert (settings.home / "deployments" / NAME / "v1" / "model" / "MLmodel").exists()  # artifacts kept
    with pytest.raises(NoDeploymentError, match="no running deployment"):
        undeploy(NAME, settings)


@pytest.fixture(scope="module")
def corrupted_version(settings, deployed) -> int:
    """A second version whose model.skops is garbage in the artifact store itself."""
    from pipelines.training import DEMO_MODELS, train_demo_model

    registered = train_demo_model(DEMO_MODELS[NAME], settings)
    [skops_file] = Path(registered.artifact_uri.removeprefix("file://")).rglob("model.skops")
    skops_file.write_bytes(b"PK\x03\x04 not a model any more")
    return registered.version


def test_failed_deploy_is_recorded_and_leaves_the_alias(settings, deployed, corrupted_version):
    port = free_port()
    with pytest.raises(DeploymentError, match="failed at step 'load'") as raised:
        deploy_model(f"{NAME}/{corrupted_version}", port=port, settings=settings)
    assert raised.value.step == "load"
    failed = list_deployments(settings)[0]
    assert (failed.model_version, failed.status, failed.healthy) == (corrupted_version, "failed", None)
    assert failed.status_reason.startswith("step 'load'")
    assert _production(settings) == 1
    assert "deploy_failed" in _actions(settings)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2.0)


def test_deploy_that_never_gets_ready_stops_what_it_started(settings, deployed, corrupted_version, monkeypatch):
    from pipelines.training import DEMO_MODELS, train_demo_model

    good = train_demo_model(DEMO_MODELS[NAME], settings).version
    monkeypatch.setattr(deploy, "READY_TIMEOUT", 3.0)
    port = free_port()
    with pytest.raises(DeploymentError, match="failed at step 'ready'"):
        deploy_model(f"{NAME}/{good}", port=port, settings=settings)
    failed = list_deployments(settings)[0]
    assert (failed.model_version, failed.status) == (good, "failed")
    processes = _recorded(settings, failed.id)
    assert processes and not any(is_running(process) or session_members(process) for process in processes)
    assert _production(settings) == 1
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2.0)
