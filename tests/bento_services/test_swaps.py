"""Versions swapped into warm spares (``bento_services.spares``, ``bento_services.swaps``), over real
``bentoml serve`` processes behind the model's gateway: a first deploy starts the spares; the next
deploy and a rollback load into them under load, losing nothing; the bento comes after the
switch; a bad reference gives the spares back; a broken version is recorded as failed at
``load`` and the current one keeps serving; undeploy stops the spares.

The tests run in order on one module-scoped home; each starts from the state the one before left.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bento_services import spares
from bento_services.bentos import bento_dir
from bento_services.deploy import deploy_model, rollback, undeploy
from bento_services.steps import DeploymentError
from infra.processes import is_running
from registry.deployments import list_deployments
from registry.errors import ModelNotFoundError
from registry.settings import Settings
from tests.bento_services.streams import NAME, ROW, Stream
from tests.servers import free_port, until

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    """Two good versions, two replicas, spares on (the suite turns them off elsewhere)."""
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path_factory.mktemp("swaps"), serve_spares=True, serve_replicas=2)
    train_demo_model(DEMO_MODELS[NAME], settings)
    train_demo_model(DEMO_MODELS[NAME], settings)
    return settings


@pytest.fixture(scope="module")
def first(settings):
    info = deploy_model(f"{NAME}/1", port=free_port(), settings=settings)
    yield info
    if any(row.status == "running" for row in list_deployments(settings=settings, live=False)):
        undeploy(NAME, settings=settings)  # a failed test must not leave servers behind
    spares.stop_spares(NAME, settings)


def _ready_spares(settings: Settings, count: int = 2) -> list[spares.Spare]:
    assert until(lambda: sum(spares.is_ready(spare) for spare in spares.recorded(NAME, settings)) >= count,
                 timeout=180.0), f"spares not ready: {spares.recorded(NAME, settings)}"
    return spares.recorded(NAME, settings)


def _row(settings: Settings, deployment_id: int):
    return next(row for row in list_deployments(settings=settings, live=False) if row.id == deployment_id)


def _production(settings: Settings) -> int:
    from registry.store import mlflow_client

    return int(mlflow_client(settings).get_registered_model(NAME).aliases["production"])


def test_a_first_deploy_starts_a_spare_per_replica_that_serves_nothing(settings, first):
    assert first.bento_tag  # a cold deploy builds before it serves
    warm = _ready_spares(settings)
    assert len(warm) == 2 and {spare.port for spare in warm}.isdisjoint(replica.port for replica in first.replicas)
    refused = httpx.post(f"{warm[0].url}/predict", json=[ROW], timeout=10.0)
    assert refused.status_code == 503 and "spare" in refused.json()["error"]
    no_token = httpx.post(f"{warm[0].url}/-/load", json={"ref": f"{NAME}/2"}, timeout=10.0)
    assert no_token.status_code == 403 and spares.is_ready(warm[0])  # nothing loaded


@pytest.fixture(scope="module")
def swapped(settings, first):
    warm = _ready_spares(settings)
    timings: dict[str, float] = {}
    with Stream(first.url, ROW) as stream:
        info = deploy_model(f"{NAME}/2", settings=settings, timings=timings)
    return info, warm, timings, stream


def test_a_deploy_loads_into_the_spares_under_load_and_loses_nothing(settings, first, swapped):
    info, warm, timings, stream = swapped
    print(f"swap: {timings}; {len(stream.versions)} requests, {len(stream.failures)} failed")
    assert stream.failures == [] and stream.versions[0] == 1 and stream.versions[-1] == 2
    assert "load" in timings and "build" not in timings and "launch" not in timings  # no new server, no bento first
    assert (info.model_version, info.url, _production(settings)) == (2, first.url, 2)
    assert [replica.port for replica in info.replicas] == [spare.port for spare in warm]
    assert {pid for spare in warm for pid in (record["pid"] for record in spare.processes)} <= set(info.pids)
    assert _row(settings, first.id).status == "replaced"
    assert all(httpx.get(f"{replica.url}/metadata").json()["version"] == 2 for replica in info.replicas)


def test_the_swapped_version_gets_its_bento_after_the_switch(settings, swapped):
    info, *_ = swapped
    assert (info.bento_tag, info.bento_state) == (None, "building")  # recorded when it served: the build comes after
    assert until(lambda: _row(settings, info.id).bento_tag is not None, timeout=240.0), \
        (settings.home / "deployments" / NAME / "v2" / "bento_build.log").read_text()[-2000:]
    tag = _row(settings, info.id).bento_tag
    assert _row(settings, info.id).bento_state == "built"
    assert tag.startswith(f"{NAME}:v2-") and bento_dir(tag, settings).exists()
    from registry.metadata.db import session_scope
    from registry.metadata.events import events_for

    with session_scope(settings) as session:
        built = [event for event in events_for(session, model_name=NAME) if event.action == "bento_built"]
        assert [(event.details["deployment_id"], event.details["bento_tag"]) for event in built] == [(info.id, tag)]


def test_new_spares_replace_the_ones_a_swap_took(settings, swapped):
    info, warm, *_ = swapped
    fresh = _ready_spares(settings)
    assert {spare.port for spare in fresh}.isdisjoint(spare.port for spare in warm)


@pytest.fixture(scope="module")
def rolled_back(settings, first, swapped):
    """As right after a deploy, while the model's new spares are still warming up: the rollback
    waits for them rather than start servers of its own."""
    spares.stop_spares(NAME, settings)
    spares.start_spares(NAME, 2, settings)
    timings: dict[str, float] = {}
    with Stream(first.url, ROW) as stream:
        info = rollback(NAME, settings=settings, timings=timings)
    return info, stream, timings


def test_a_rollback_loads_the_earlier_version_into_the_spares(settings, first, swapped, rolled_back):
    info, stream, timings = rolled_back
    assert "load" in timings and "launch" not in timings, timings  # the warming spares, not new servers
    assert stream.failures == [] and stream.versions[-1] == 1
    assert (info.model_version, info.url, _production(settings)) == (1, first.url, 1)
    assert info.bento_tag == first.bento_tag  # its bento is still in the store: no build again
    assert _row(settings, swapped[0].id).status == "replaced"


def test_a_reference_to_no_version_gives_the_spares_back(settings, rolled_back):
    info, *_ = rolled_back
    warm = _ready_spares(settings)
    with pytest.raises(ModelNotFoundError, match="99"):
        deploy_model(f"{NAME}/99", settings=settings)
    assert [spare.port for spare in spares.recorded(NAME, settings)] == [spare.port for spare in warm]
    assert all(spares.is_ready(spare) for spare in warm)
    assert httpx.post(f"{info.url}/predict", json=[ROW]).json()["model_version"] == 1


def test_a_broken_version_fails_at_load_and_the_current_one_keeps_serving(settings, rolled_back):
    from pipelines.training import DEMO_MODELS, train_demo_model

    info, *_ = rolled_back
    registered = train_demo_model(DEMO_MODELS[NAME], settings)
    [skops_file] = Path(registered.artifact_uri.removeprefix("file://")).rglob("model.skops")
    skops_file.write_bytes(b"PK\x03\x04 not a model any more")
    warm = _ready_spares(settings)
    with pytest.raises(DeploymentError, match="failed at step 'load': load: ") as raised:
        deploy_model(f"{NAME}/{registered.version}", settings=settings)
    assert raised.value.step == "load"
    failed = list_deployments(settings=settings, live=False)[0]
    assert (failed.model_version, failed.status) == (int(registered.version), "failed")
    assert not any(is_running(process) for spare in warm for process in spare.process_list())  # stopped, not reused
    assert _production(settings) == 1
    assert httpx.post(f"{info.url}/predict", json=[ROW]).json()["model_version"] == 1


def test_undeploy_stops_the_spares(settings, rolled_back):
    warm = _ready_spares(settings)
    undeploy(NAME, settings=settings)
    assert spares.recorded(NAME, settings) == []
    assert not any(is_running(process) for spare in warm for process in spare.process_list())
