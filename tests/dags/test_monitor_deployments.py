"""The monitor_deployments DAG under dag.test(): a pass per model, failed (after recording) when
it raises alerts, and nothing to do without deployments."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.dags.test_dag_files import _dagbag
from tests.pipelines.monitoring.fixtures import monitored  # noqa: F401
from tests.pipelines.monitoring.logs import requests_frame, write_log

NAME = "breast_cancer_classifier"


@pytest.fixture
def env(monitored, monkeypatch):  # noqa: F811
    from registry.settings import get_settings

    monkeypatch.setenv("MODELYARD_HOME", str(monitored.home))
    get_settings.cache_clear()
    yield monitored
    get_settings.cache_clear()


def test_the_dag_parses_hourly_with_a_mapped_pass(airflow_db, env):
    dag = _dagbag().get_dag("monitor_deployments")
    assert set(dag.task_ids) == {"monitored_models", "monitor_model", "retrain_on_schedule"}
    assert dag.get_task("monitor_model").upstream_task_ids == {"monitored_models"}
    assert dag.get_task("retrain_on_schedule").upstream_task_ids == set()
    assert set(dag.params.keys()) == {"model"} and dag.max_active_runs == 1


def test_without_deployments_a_run_has_nothing_to_do(airflow_db, env):
    from airflow.utils.state import DagRunState

    run = _dagbag().get_dag("monitor_deployments").test()
    assert run.state == DagRunState.SUCCESS


def test_a_pass_with_drift_is_recorded_then_fails_its_task(airflow_db, env):
    from airflow.utils.state import DagRunState, TaskInstanceState

    from pipelines.training import load_dataset
    from registry.monitoring import runs_for

    features, target = load_dataset("breast_cancer")
    picked = features.sample(400, replace=True, random_state=5)
    picked["mean_texture"] *= 3
    start = datetime.now(timezone.utc) - timedelta(minutes=50)
    write_log(env, NAME, 1, requests_frame(picked, target.loc[picked.index], start=start,
                                           span=timedelta(minutes=40), classes=[0, 1]))
    run = _dagbag().get_dag("monitor_deployments").test(run_conf={"model": NAME})
    assert run.state == DagRunState.FAILED
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert states[("monitor_model", 0)] == TaskInstanceState.FAILED
    (record,) = runs_for(env, NAME, source="online")
    assert record.figures.requests == 400 and [alert.subject for alert in record.alerts] == ["mean_texture"]

    again = _dagbag().get_dag("monitor_deployments").test(run_conf={"model": NAME})  # nothing new: no alert
    assert again.state == DagRunState.SUCCESS
    assert [r.figures.requests for r in runs_for(env, NAME, source="online")] == [400, 0]
