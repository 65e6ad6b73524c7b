"""DAG files: they parse, wire the tasks as designed, keep heavy imports out, and run end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pendulum
import pytest

from bento_services import chain

DAGS = Path(__file__).parents[2] / "dags"
HEAVY = ("pandas", "numpy", "mlflow", "dask", "distributed", "great_expectations", "sklearn",
         "bentoml", "registry", "pipelines")


def _dagbag():
    """Parsed as the dag-processor parses the bundle: with the dags folder on sys.path."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS)


def test_dag_files_import_no_heavy_library_at_parse_time(tmp_path):
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import batch_scoring, associations, train_models, deploy_model, rollback_model, undeploy_model, "
        "reconcile_deployments, monitor_deployments\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    env = {**os.environ, "MODELYARD_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", probe, str(DAGS)], capture_output=True, text=True,
                            env=env, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_dagbag_has_no_import_errors_and_the_designed_tasks(airflow_db, tmp_path, monkeypatch):
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path))
    bag = _dagbag()
    assert bag.import_errors == {}
    scoring = bag.get_dag("batch_scoring")
    assert set(scoring.task_ids) == {"resolve_model", "validate_input", "score_batch", "record_metrics"}
    assert scoring.get_task("score_batch").upstream_task_ids == {"resolve_model", "validate_input"}
    assert scoring.get_task("record_metrics").upstream_task_ids == {"score_batch"}
    assert set(scoring.params.keys()) == {"model_ref", "input_path", "output_path", "policy", "output_format"}
    for dag in bag.dags.values():
        assert dag.doc_md and "modelyard" in dag.tags
        assert all(task.owner for task in dag.tasks)
        if "serving" not in dag.tags or dag.dag_id == "reconcile_deployments":
            assert all(task.retries >= 1 for task in dag.tasks)
        else:  # a half-done deploy is abandoned and recorded, not retried
            assert all(task.retries == 0 for task in dag.tasks)
    chains = {"deploy_model": (chain.SWAP, *chain.DEPLOY), "rollback_model": (chain.SWAP, *chain.ROLLBACK),
              "undeploy_model": chain.UNDEPLOY}
    for dag_id, steps in chains.items():
        tasks = bag.get_dag(dag_id).task_group.topological_sort()
        assert [task.task_id for task in tasks] == list(steps)
        assert [task.task_display_name for task in tasks] == [chain.LABELS[step] for step in steps]
    assert set(bag.get_dag("deploy_model").params.keys()) == {"model_ref", "port", "replicas", "runtime"}
    assert set(bag.get_dag("rollback_model").params.keys()) == {"model_name"}
    assert set(bag.get_dag(chain.CHALLENGE_DAG).params.keys()) == {
        "model_name", "action", "version", "mode", "percent", "sticky_header", "replicas", "rule"}
    assert bag.get_dag(chain.CHALLENGE_DAG).task_ids == ["challenge"]
    assert bag.get_dag("reconcile_deployments").task_ids == ["reconcile"]
    assert not bag.get_dag("reconcile_deployments").is_paused_upon_creation
    assert bag.get_dag("train_models").task_ids == ["train_models"]
    assert bag.get_dag("train_models").is_paused_upon_creation  # weekly training is opt-in


def test_the_scoring_dag_offers_the_policies_and_formats_the_registry_defines(airflow_db, tmp_path, monkeypatch):
    from registry.scoring_options import FORMATS, POLICIES

    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path))
    params = _dagbag().get_dag("batch_scoring").params  # a DAG file may not import the registry to read them
    assert tuple(params.get_param("policy").schema["enum"]) == POLICIES
    assert tuple(params.get_param("output_format").schema["enum"]) == FORMATS


def test_the_challenge_dag_offers_the_modes_the_registry_defines(airflow_db, tmp_path, monkeypatch):
    from registry.challenge_modes import MODES

    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path))
    params = _dagbag().get_dag(chain.CHALLENGE_DAG).params
    assert tuple(params.get_param("mode").schema["enum"]) == MODES


def test_the_deploy_dag_offers_the_runtimes_the_registry_defines(airflow_db, tmp_path, monkeypatch):
    from registry.runtimes import RUNTIME_REQUESTS

    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path))
    params = _dagbag().get_dag(chain.DEPLOY_DAG).params
    assert tuple(params.get_param("runtime").schema["enum"]) == RUNTIME_REQUESTS


def test_one_dag_per_association_from_the_snapshot(airflow_db, tmp_path, monkeypatch):
    snapshot = {"associations": [
        {"name": name, "dag_id": f"score__{name}", "model_ref": "m@champion", "workflow": "batch_scoring",
         "schedule": "0 6 * * *", "input_path": "/in", "output_path": "/out/{{ ds }}", "policy": "fail",
         "options": {}, "enabled": True, "created_by": "ana", "created_at": "2026-01-01T00:00:00Z"}
        for name in ("a", "b")
    ]}
    path = tmp_path / "associations.json"
    path.write_text(json.dumps(snapshot))
    monkeypatch.setenv("MODELYARD_ASSOCIATIONS_SNAPSHOT", str(path))
    bag = _dagbag()
    assert {"score__a", "score__b"} <= set(bag.dag_ids)
    dag = bag.get_dag("score__a")
    assert dag.schedule == "0 6 * * *"
    assert dag.default_args["owner"] == "ana"
    assert dag.start_date == pendulum.datetime(2026, 1, 1, tz="UTC")  # when the association was made


def test_an_association_first_runs_at_its_next_slot_not_the_one_that_passed(airflow_db, tmp_path, monkeypatch):
    """Made a minute after its daily slot: the scheduler's first run is tomorrow's slot."""
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    now = pendulum.now("UTC")
    passed = now.subtract(minutes=2)
    snapshot = {"associations": [
        {"name": "late", "dag_id": "score__late", "model_ref": "m@champion", "workflow": "batch_scoring",
         "schedule": f"{passed.minute} {passed.hour} * * *", "input_path": "/in", "output_path": "/out",
         "policy": "fail", "options": {}, "enabled": True, "created_by": "ana",
         "created_at": now.subtract(minutes=1).isoformat()}]}
    path = tmp_path / "associations.json"
    path.write_text(json.dumps(snapshot))
    monkeypatch.setenv("MODELYARD_ASSOCIATIONS_SNAPSHOT", str(path))
    dag = DagSerialization.from_dict(DagSerialization.to_dict(_dagbag().get_dag("score__late")))  # as the scheduler has it
    first = dag.timetable.next_dagrun_info(last_automated_data_interval=None,
                                           restriction=TimeRestriction(dag.start_date, None, catchup=False))
    assert first.run_after == passed.replace(second=0, microsecond=0).add(days=1)


@pytest.fixture
def scoring_env(scoring_home, dask_cluster, monkeypatch):
    """Tasks read Modelyard's settings from the environment, as they do under Airflow."""
    from registry.settings import get_settings

    settings = scoring_home
    monkeypatch.setenv("MODELYARD_HOME", str(settings.home))
    monkeypatch.setenv("MODELYARD_DASK_SCHEDULER", dask_cluster)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def _input(tmp_path):
    from pipelines.training import load_dataset

    features, _ = load_dataset("breast_cancer")
    features.insert(0, "patient", range(len(features)))
    features.loc[0, "mean_radius"] = None
    features.to_parquet(tmp_path / "in.parquet")
    return str(tmp_path / "in.parquet")


def test_batch_scoring_dag_runs_end_to_end_with_dag_test(airflow_db, scoring_env, tmp_path):
    from airflow.utils.state import DagRunState

    run = _dagbag().get_dag("batch_scoring").test(run_conf={
        "model_ref": "breast_cancer_classifier/1", "input_path": _input(tmp_path),
        "output_path": str(tmp_path / "out"), "policy": "quarantine", "output_format": "parquet"})
    assert run.state == DagRunState.SUCCESS
    scored, rejected = pd.read_parquet(tmp_path / "out"), pd.read_parquet(tmp_path / "out" / "_rejects")
    assert len(scored) + len(rejected) == 569 and 0 in rejected["patient"].tolist()
    assert set(scored["run_id"]) == {f"batch_scoring__{run.run_id}".replace(":", "_").replace("+", "_")}


def test_fail_policy_fails_the_validate_task_and_writes_nothing(airflow_db, scoring_env, tmp_path):
    from airflow.utils.state import DagRunState, TaskInstanceState

    run = _dagbag().get_dag("batch_scoring").test(run_conf={
        "model_ref": "breast_cancer_classifier/1", "input_path": _input(tmp_path),
        "output_path": str(tmp_path / "out"), "policy": "fail", "output_format": "parquet"})
    assert run.state == DagRunState.FAILED
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["validate_input"] == TaskInstanceState.FAILED
    assert states["score_batch"] == TaskInstanceState.UPSTREAM_FAILED
    assert not (tmp_path / "out").exists()


def test_generated_association_dag_scores_with_templated_output(airflow_db, scoring_env, tmp_path, monkeypatch):
    from airflow.utils.state import DagRunState

    from registry.associations import create_association, remove_association
    from registry.catalog import set_alias

    monkeypatch.setenv("MODELYARD_ASSOCIATIONS_SNAPSHOT", str(tmp_path / "associations.json"))
    set_alias("breast_cancer_classifier/1", "champion_dag", scoring_env)
    info = create_association("breast_cancer_classifier@champion_dag", input_path=_input(tmp_path),
                              output_path=str(tmp_path / "daily" / "{{ ds }}"), schedule="@daily",
                              policy="quarantine", name="bc_daily",
                              settings=scoring_env.model_copy(update={"data_roots": [str(tmp_path)]}))
    run = _dagbag().get_dag(info.dag_id).test()
    assert run.state == DagRunState.SUCCESS
    (day,) = list((tmp_path / "daily").iterdir())
    scored, rejected = pd.read_parquet(day), pd.read_parquet(day / "_rejects")
    assert len(day.name) == 10 and len(scored) + len(rejected) == 569
    remove_association("bc_daily", scoring_env)
    assert "score__bc_daily" not in _dagbag().dag_ids


def test_train_models_dag_registers_new_versions(airflow_db, home, monkeypatch):
    from airflow.utils.state import DagRunState

    from registry.catalog import list_models

    run = _dagbag().get_dag("train_models").test(run_conf={"models": ["diabetes_regressor"]})
    assert run.state == DagRunState.SUCCESS
    assert [(m.name, m.latest_version) for m in list_models()] == [("diabetes_regressor", 1)]


def test_deploy_model_dag_stops_at_build_for_an_unknown_model(airflow_db, home):
    from airflow.utils.state import DagRunState, TaskInstanceState

    run = _dagbag().get_dag("deploy_model").test(run_conf={"model_ref": "no_such_model/1", "port": 0})
    assert run.state == DagRunState.FAILED
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["build"] == TaskInstanceState.FAILED
    assert {states[task] for task in ("launch", "check_health", "check_parity", "promote")} == {
        TaskInstanceState.UPSTREAM_FAILED}


def test_reconcile_dag_runs_with_nothing_to_repair(airflow_db, home):
    from airflow.utils.state import DagRunState

    assert _dagbag().get_dag("reconcile_deployments").test().state == DagRunState.SUCCESS
