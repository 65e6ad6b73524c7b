"""Undeploy leaves nothing behind: the port is free for any later deploy and `production`, which
names what serves now, is removed (the next deploy sets it again); the CLI says both."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from bento_services.deploy import deploy_model, undeploy
from bento_services.endpoints import get_endpoint
from registry.deployments import list_deployments
from registry.metadata.db import session_scope
from registry.metadata.events import events_for
from registry.settings import Settings, get_settings
from tests.bento_services.streams import NAME, ROW
from tests.servers import free_port

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path_factory.mktemp("undeploy"))
    train_demo_model(DEMO_MODELS[NAME], settings)
    yield settings
    if any(row.status == "running" for row in list_deployments(settings=settings, live=False)):
        undeploy(NAME, settings=settings)  # a failed test must not leave servers behind


def _production(settings: Settings) -> int | None:
    from registry.store import mlflow_client

    aliases = mlflow_client(settings).get_registered_model(NAME).aliases
    return int(aliases["production"]) if "production" in aliases else None


def test_undeploy_frees_the_port_and_removes_production_and_a_deploy_elsewhere_works(settings, monkeypatch):
    first_port, second_port = free_port(), free_port()
    first = deploy_model(f"{NAME}/1", port=first_port, replicas=1, settings=settings)
    assert _production(settings) == 1

    done = undeploy(NAME, settings=settings, actor="ops")
    assert (done.deployment.id, done.deployment.status) == (first.id, "stopped")
    assert (done.freed_port, done.production_removed_from) == (first_port, 1)
    assert done.message == (f"stopped {NAME}/1; port {first_port} is free for any later deploy; "
                            "alias production removed from version 1")
    assert _production(settings) is None and get_endpoint(NAME, settings) is None
    with session_scope(settings) as session:
        undeployed, removed = events_for(session, model_name=NAME)[:2]
    assert (undeployed.action, undeployed.actor) == ("undeployed", "ops")
    assert (undeployed.details["freed_port"], undeployed.details["production_removed_from"]) == (first_port, 1)
    assert (removed.action, removed.actor, removed.details) == (
        "alias_removed", "ops", {"alias": "production", "reason": "undeployed"})

    second = deploy_model(f"{NAME}/1", port=second_port, replicas=1, settings=settings)  # was refused: port moved
    assert second.url == f"http://127.0.0.1:{second_port}" and _production(settings) == 1
    assert httpx.post(f"{second.url}/predict", json=[ROW], timeout=30.0).json()["model_version"] == 1

    monkeypatch.setenv("MODELYARD_HOME", str(settings.home))
    get_settings.cache_clear()
    try:
        from cli.main import app

        said = CliRunner().invoke(app, ["undeploy", NAME], catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    assert said.exit_code == 0, said.output
    assert (f"stopped {NAME}/1; port {second_port} is free for any later deploy; alias production removed from "
            f"version 1 ({second.url} no longer answers)") in " ".join(said.output.split())
    assert _production(settings) is None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{second.url}/readyz", timeout=2.0)
