"""Deploy lifecycle over real ``bentoml serve`` processes behind a model's stable endpoint:
deploy, a version switch under load, rollback, reconcile after kills, failed deploys, undeploy.

The tests run in order on one module-scoped home (the shared ``scoring_home`` moves aliases
other tests read); each step starts from the state the previous one left.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from bento_services import servers
from bento_services.deploy import deploy_model, rollback, undeploy
from bento_services.endpoints import EndpointError, gateway_processes
from bento_services.reconcile import reconcile
from bento_services.steps import DeploymentError, NoDeploymentError
from infra.processes import Process, is_running, session_members
from registry.deployments import list_deployments
from registry.settings import Settings
from tests.bento_services.streams import NAME, ROW, Stream
from tests.servers import free_port

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    """Two good versions of the model."""
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path_factory.mktemp("deploy"))
    train_demo_model(DEMO_MODELS[NAME], settings)
    train_demo_model(DEMO_MODELS[NAME], settings)
    return settings


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def first(settings, port):
    info = deploy_model(f"{NAME}/1", port=port, settings=settings)
    yield info
    if any(row.status == "running" for row in list_deployments(settings=settings, live=False)):
        undeploy(NAME, settings=settings)  # a failed test must not leave servers behind
    for process in gateway_processes(NAME, settings):
        assert not is_running(process)


def _recorded(settings: Settings, deployment_id: int) -> list[Process]:
    from registry.metadata.db import session_scope
    from registry.metadata.tables import Deployment

    with session_scope(settings) as session:
        return [Process(**record) for record in session.get(Deployment, deployment_id).pids]


def _row(settings: Settings, deployment_id: int):
    return next(row for row in list_deployments(settings=settings, live=False) if row.id == deployment_id)


def _production(settings: Settings) -> int | None:
    from registry.store import mlflow_client

    aliases = mlflow_client(settings).get_registered_model(NAME).aliases
    return int(aliases["production"]) if "production" in aliases else None


def _actions(settings: Settings) -> list[str]:
    from registry.metadata.db import session_scope
    from registry.metadata.events import events_for

    with session_scope(settings) as session:
        return [event.action for event in events_for(session, model_name=NAME)]


def _served_version(url: str) -> int:
    response = httpx.post(f"{url}/predict", json=[ROW], timeout=30.0)
    assert response.status_code == 200, response.text
    return response.json()["model_version"]


def _kill(process: Process) -> None:
    """SIGKILL a recorded process if it is still that process: PIDs wrap at 32768 here, and the
    other test worker starts servers too."""
    if is_running(process):
        os.kill(process.pid, signal.SIGKILL)


def _gone(processes: list[Process]) -> bool:
    return not any(is_running(process) or session_members(process) for process in processes)


def test_the_bento_serves_the_runtime_the_build_chose_away_from_the_deployment_folder(settings, first, tmp_path):
    """A server of the bento given only the Bento store (as on another machine, or in the image
    ``bentoml containerize`` builds) serves the predictor the build chose, from the snapshot the
    build attached to the bento's model, and the bento's requirements can run it."""
    from bento_services.bento_build import bento_model_path, bento_model_tag
    from bento_services.bentos import bento_dir, bentoml_home
    from infra.processes import children, launch, stop

    model_path = bento_model_path(bento_model_tag(NAME, 1), bentoml_home(settings))
    assert (model_path / "served_model.pkl").exists() and (model_path / "runtime.json").exists()
    requirements = (bento_dir(first.bento_tag, settings) / "env" / "python" / "requirements.txt").read_text()
    assert "onnxruntime==" in requirements and "onnx==" in requirements
    port = free_port()
    env = {**servers.server_env(settings, NAME, port), "MODELYARD_SERVE_MODEL_TAG": bento_model_tag(NAME, 1),
           "MODELYARD_SERVE_MODEL_NAME": NAME, "MODELYARD_SERVE_MODEL_VERSION": "1"}  # no version folder named
    leader = launch("bento-elsewhere", [sys.executable, "-m", "bentoml", "serve", first.bento_tag, "--host",
                                        "127.0.0.1", "--port", str(port)], env=env, log=tmp_path / "serve.log")
    try:
        servers.wait_ready(leader, f"http://127.0.0.1:{port}")
        metadata = httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=10.0).json()
        assert metadata["runtime"] == first.runtime.runtime != "native", metadata
    finally:
        stop([*children(leader), leader], timeout=15.0)


def test_deploy_serves_the_version_at_the_models_port(settings, first, port):
    assert (first.model_name, first.model_version, first.status) == (NAME, 1, "running")
    assert first.url == f"http://127.0.0.1:{port}" and first.port != port  # the backend has its own port
    bento_name, bento_version = first.bento_tag.split(":")
    assert (bento_name, bento_version.split("-")[0]) == (NAME, "v1")
    bento_yaml = (settings.home / "bentoml" / "bentos" / bento_name / bento_version / "bento.yaml").read_text()
    assert f"{NAME}:v1" in bento_yaml  # the bento uses the version imported into the Bento model store
    assert (settings.home / "bentoml" / "models" / NAME / "v1" / "MLmodel").exists()
    assert _production(settings) == 1
    assert "deployed" in _actions(settings)
    processes = _recorded(settings, first.id)
    assert len(processes) >= 2 and all(is_running(process) for process in processes)
    assert [process.pid for process in processes] == first.pids
    assert gateway_processes(NAME, settings) and all(map(is_running, gateway_processes(NAME, settings)))
    assert _served_version(first.url) == 1
    assert _served_version(first.backend_url) == 1
    assert httpx.get(f"{first.url}/readyz").status_code == 200
    assert (settings.home / "deployments" / NAME / "v1" / "serve.log").exists()


def test_the_deploy_says_which_runtime_serves_and_the_servers_use_it(settings, first):
    from registry.runtimes import RuntimeChoice

    runtime = first.runtime
    assert runtime is not None and runtime.requested == "auto" and runtime.native.batch_rows > 0
    [candidate] = runtime.candidates  # scikit-learn's: ONNX Runtime
    assert candidate.runtime == "onnxruntime" and candidate.parity.rows == runtime.native.batch_rows
    if candidate.parity.passed and candidate.timing.one_row_ms < runtime.native.one_row_ms:
        assert runtime.runtime == "onnxruntime" and runtime.one_row_speedup > 1.0
    else:
        assert runtime.runtime == "native"
    assert httpx.get(f"{first.backend_url}/metadata").json()["runtime"] == runtime.runtime
    assert _row(settings, first.id).runtime == runtime  # kept on the deployment's row
    folder = settings.home / "deployments" / NAME / "v1"
    assert RuntimeChoice.model_validate_json((folder / "runtime.json").read_text()) == runtime  # for a rollback


def test_parity_holds_the_server_to_the_answer_the_build_made(settings, first):
    from bento_services.parity import compare, reference_case, saved_case

    case = reference_case(settings.home / "deployments" / NAME / "v1" / "model")
    assert case is not None and case.records and set(case.expected) == {"prediction"}
    saved = saved_case(settings.home / "deployments" / NAME / "v1")  # what a restart checks against
    assert (saved.records, saved.expected) == (case.records, case.expected)  # the native model's answer
    assert saved.atol == max(1e-7, first.runtime.chosen.parity.tolerance if first.runtime.chosen else 0.0)
    assert (settings.home / "deployments" / NAME / "v1" / "served_model.pkl").exists()  # what replicas start from
    compare(first.backend_url, case)  # JSON round trip of the case included, as between DAG tasks
    compare(first.backend_url, type(case).model_validate_json(case.model_dump_json()))
    wrong = case.model_copy(update={"expected": {"prediction": [v + 1.0 for v in case.expected["prediction"]]}})
    with pytest.raises(RuntimeError, match="differs from the in-process predictor in 'prediction'"):
        compare(first.backend_url, wrong)


def test_the_endpoint_port_stays_with_the_model(settings, first, port):
    with pytest.raises(EndpointError, match=f"served on port {port}"):
        deploy_model(f"{NAME}/2", port=port + 1, settings=settings)


@pytest.fixture(scope="module")
def second(settings, first):
    with Stream(first.url, ROW) as stream:  # to two replicas of version 2, checked one by one
        info = deploy_model(f"{NAME}/2", replicas=2, settings=settings)
    return info, stream


def test_a_version_switch_under_load_loses_no_request(settings, first, second):
    info, stream = second
    print(f"{len(stream.versions)} requests during the switch, {len(stream.failures)} failed")
    assert stream.failures == []
    assert stream.versions[0] == 1 and stream.versions[-1] == 2 and len(stream.versions) > 20
    switched = min(answered for _, answered, version in stream.timed if version == 2)
    assert {version for sent, _, version in stream.timed if sent > switched} == {2}  # never back to 1
    assert info.url == first.url and info.model_version == 2 and _production(settings) == 2
    assert len(info.replicas) == 2 and {_served_version(replica.url) for replica in info.replicas} == {2}
    assert _gone(_recorded(settings, first.id))
    assert (_row(settings, first.id).status, _row(settings, first.id).status_reason) == (
        "replaced", f"replaced by deployment {info.id}")
    assert "deployment_replaced" in _actions(settings)


@pytest.fixture(scope="module")
def rolled_back(settings, second):
    with Stream(second[0].url, ROW) as stream:  # from two replicas of version 2 back to version 1
        started = time.monotonic()
        info = rollback(NAME, settings=settings)
        seconds = time.monotonic() - started  # the rollback alone, not the stream's tail after it
    return info, seconds, stream


def test_rollback_serves_the_previous_version_at_the_same_url(settings, first, second, rolled_back):
    info, seconds, stream = rolled_back
    print(f"rollback took {seconds:.1f} s; {len(stream.versions)} requests during it, {len(stream.failures)} failed")
    assert stream.failures == []
    assert stream.versions[0] == 2 and stream.versions[-1] == 1
    assert (info.model_version, info.url, info.status) == (1, first.url, "running")
    assert info.bento_tag == first.bento_tag  # served again from its bento, not rebuilt
    assert _served_version(first.url) == 1 and _production(settings) == 1
    assert _row(settings, second[0].id).status == "replaced"
    assert "rolled_back" in _actions(settings)


def test_a_switch_and_a_rollback_lose_no_logged_request(settings, second, rolled_back):
    """Replicas stopped by a switch or a rollback flush their log on the way out: every request
    they answered is there at once; the serving ones' within a flush interval (5 s). The log is the
    contract's (registry.request_logs): hour partitions per version, one row per scored row,
    both replicas of a deployment by their ports."""
    from registry.request_logs import COLUMNS, log_root, read_request_log

    logged = read_request_log(settings, NAME)
    answered_by_stopped = {**{rid: v for rid, v in second[1].answered.items() if v == 1},
                           **{rid: v for rid, v in rolled_back[2].answered.items() if v == 2}}
    missing = set(answered_by_stopped) - set(logged["request_id"])
    assert not missing, f"{len(missing)} of {len(answered_by_stopped)} answered requests not logged"
    answered = {**second[1].answered, **rolled_back[2].answered}
    deadline = time.monotonic() + 15
    while set(answered) - set(logged["request_id"]) and time.monotonic() < deadline:
        time.sleep(0.5)
        logged = read_request_log(settings, NAME)
    assert not set(answered) - set(logged["request_id"])
    mine = logged.set_index("request_id").loc[list(answered)]
    assert mine["version"].tolist() == list(answered.values())  # each under its version's folder
    assert (mine["status"] == 200).all() and (mine["row"] == 0).all() and (mine["route"] == "/predict").all()
    assert mine["input_bmi"].tolist() == [ROW["bmi"]] * len(answered)
    assert mine["output_prediction"].notna().all() and (mine["latency_ms"] > 0).all()
    assert list(logged.columns[:len(COLUMNS)]) == list(COLUMNS)
    v2_ports = {str(replica.port) for replica in second[0].replicas}
    assert set(mine.loc[mine["version"] == 2, "replica"]) == v2_ports  # both replicas answered and logged
    hours = {path.name for path in Path(log_root(settings), f"model={NAME}", "version=2").iterdir()}
    assert hours == {f"hour={hour}" for hour in mine.loc[mine["version"] == 2, "hour"]}
    print(f"{len(answered_by_stopped)} requests answered by replicas stopped in a switch or rollback, all logged; "
          f"{len(answered)} in all")


def test_reconcile_restarts_a_killed_server_and_keeps_its_record(settings, rolled_back):
    info, *_ = rolled_back
    before = _recorded(settings, info.id)
    for process in reversed(before):
        _kill(process)
    deadline = time.monotonic() + 10
    while not _gone(before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list_deployments(settings=settings)[0].healthy is False
    (repair,) = reconcile(settings=settings)
    assert (repair.deployment_id, repair.action) == (info.id, "restarted"), repair
    row = _row(settings, info.id)
    assert (row.status, row.model_version, row.url) == ("running", 1, info.url)
    assert row.port != info.port and list_deployments(settings=settings)[0].healthy is True
    assert _served_version(info.url) == 1
    assert "deployment_restarted" in _actions(settings)


def test_reconcile_restarts_a_killed_gateway(settings, rolled_back):
    info, *_ = rolled_back
    gateway = gateway_processes(NAME, settings)
    _kill(gateway[0])
    deadline = time.monotonic() + 10
    while not _gone(gateway) and time.monotonic() < deadline:
        time.sleep(0.1)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{info.url}/readyz", timeout=2.0)
    (repair,) = reconcile(settings=settings)
    assert repair.action == "gateway_restarted"
    assert _served_version(info.url) == 1
    assert [repair.action for repair in reconcile(settings=settings)] == ["ok"]
    assert "endpoint_restarted" in _actions(settings)


@pytest.fixture(scope="module")
def corrupted_version(settings, rolled_back) -> int:
    """A third version whose model.skops is garbage in the artifact store itself."""
    from pipelines.training import DEMO_MODELS, train_demo_model

    registered = train_demo_model(DEMO_MODELS[NAME], settings)
    [skops_file] = Path(registered.artifact_uri.removeprefix("file://")).rglob("model.skops")
    skops_file.write_bytes(b"PK\x03\x04 not a model any more")
    return registered.version


def test_a_broken_model_fails_its_deploy_and_the_current_one_keeps_serving(settings, rolled_back, corrupted_version):
    info, *_ = rolled_back
    with pytest.raises(DeploymentError, match="failed at step 'build': RuntimeError: load: ") as raised:
        deploy_model(f"{NAME}/{corrupted_version}", settings=settings)
    assert raised.value.step == "build"
    failed = list_deployments(settings=settings)[0]
    assert (failed.model_version, failed.status, failed.healthy) == (corrupted_version, "failed", None)
    assert failed.status_reason.startswith("step 'build': RuntimeError: load: ")
    assert _production(settings) == 1 and _served_version(info.url) == 1
    assert "deploy_failed" in _actions(settings)
    bentos = settings.home / "bentoml" / "bentos" / NAME  # built beside the load check, then deleted
    assert not [path for path in bentos.iterdir() if path.name.startswith(f"v{corrupted_version}-")]


def test_a_deploy_that_never_gets_ready_stops_what_it_started(settings, rolled_back, corrupted_version, monkeypatch):
    from bento_services import steps

    info, *_ = rolled_back
    never = "/not-a-route"  # a readiness never given: servers start in under 3 s now
    monkeypatch.setattr(steps, "wait_ready", lambda leader, url: servers.wait_ready(leader, url, 3.0, path=never))
    with pytest.raises(DeploymentError, match="failed at step 'check_health'"):
        deploy_model(f"{NAME}/2", settings=settings)
    failed = list_deployments(settings=settings)[0]
    assert (failed.model_version, failed.status) == (2, "failed")
    processes = _recorded(settings, failed.id)
    assert processes and _gone(processes)
    assert _production(settings) == 1 and _served_version(info.url) == 1


def test_old_bentos_are_pruned_but_never_the_one_serving(settings, first, second, rolled_back):
    from bento_services.bentos import prune_bentos

    bentos = settings.home / "bentoml" / "bentos" / NAME
    before = sorted(path.name for path in bentos.iterdir() if path.is_dir())
    assert len(before) == 3  # v1, v2, and v2 again from the deploy that never got ready
    deleted = prune_bentos(NAME, settings.model_copy(update={"serve_keep_bentos": 1}))
    assert deleted == [second[0].bento_tag]  # the newest stays, and v1 because it is serving
    assert sorted(path.name for path in bentos.iterdir() if path.is_dir()) == sorted(
        set(before) - {second[0].bento_tag.split(":")[1]})
    assert _served_version(rolled_back[0].url) == 1


def test_undeploy_stops_the_server_and_the_gateway(settings, rolled_back):
    info, *_ = rolled_back
    listed = list_deployments(settings=settings)
    assert [(row.id, row.healthy) for row in listed if row.status == "running"] == [(info.id, True)]
    processes = _recorded(settings, info.id) + gateway_processes(NAME, settings)
    stopped = undeploy(NAME, settings=settings).deployment
    assert (stopped.id, stopped.status) == (info.id, "stopped")
    assert _gone(processes)
    assert "undeployed" in _actions(settings)
    assert (settings.home / "deployments" / NAME / "v1" / "model" / "MLmodel").exists()  # artifacts kept
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{info.url}/readyz", timeout=2.0)
    with pytest.raises(NoDeploymentError, match="no running deployment"):
        undeploy(NAME, settings=settings)
    with pytest.raises(NoDeploymentError, match="no running deployment to roll back"):
        rollback(NAME, settings=settings)
