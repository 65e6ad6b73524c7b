"""The scoring workflows under the real scheduler, not only dag.test().

A task process of a scheduled run cannot reach Airflow's database and re-imports what it runs,
which is where a spawned Dask LocalCluster breaks (PLATFORM_NOTES): here the tasks start their
own local cluster (no dask_default connection), as an embedded install does.
"""

import time

import pandas as pd
import pytest

from stack import airflow
from infra.airflow_rest import AirflowApiError
from pipelines.training import load_dataset
from registry.associations import create_association
from tests.servers import free_port

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def stack(scoring_home):
    settings = scoring_home
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(airflow.SQL_CONN_VAR, raising=False)  # the stack's own home database
        patch.delenv("AIRFLOW__CORE__DAGS_FOLDER", raising=False)
        started = airflow.start(settings, api_port=free_port())
        try:
            with started.api() as api:
                yield settings, api
        finally:
            started.stop()


def _input(folder):
    features, _ = load_dataset("breast_cancer")
    features.insert(0, "patient", range(len(features)))
    folder.mkdir(parents=True, exist_ok=True)
    features.to_parquet(folder / "in.parquet")
    return str(folder / "in.parquet")


def test_triggered_batch_scoring_succeeds_under_the_scheduler(stack, tmp_path):
    settings, api = stack
    api.wait_for_dag("batch_scoring", timeout=120)
    run_id = api.trigger("batch_scoring", {
        "model_ref": "breast_cancer_classifier/1", "input_path": _input(tmp_path),
        "output_path": str(tmp_path / "out"), "policy": "quarantine", "output_format": "parquet"})
    assert api.wait_for_run("batch_scoring", run_id, timeout=400) == "success", api.task_states("batch_scoring", run_id)
    assert set(api.task_states("batch_scoring", run_id).values()) == {"success"}
    scored = pd.read_parquet(tmp_path / "out")
    rejected = pd.read_parquet(tmp_path / "out" / "_rejects") if (tmp_path / "out" / "_rejects").exists() else []
    assert len(scored) + len(rejected) == 569


def test_wrong_param_type_is_refused_by_the_api(stack):
    _, api = stack
    with pytest.raises(AirflowApiError) as error:
        api.trigger("batch_scoring", {"model_ref": "breast_cancer_classifier/1", "input_path": "/in",
                                      "output_path": "/out", "policy": "ignore"})
    assert error.value.status_code == 400


def test_association_dag_appears_and_the_scheduler_runs_it_on_schedule(stack, tmp_path):
    settings, api = stack
    info = create_association("breast_cancer_classifier/1", input_path=_input(tmp_path),
                              output_path=str(tmp_path / "scheduled" / "{{ ds }}"), schedule="@once",
                              policy="quarantine", name="scheduled_once",
                              settings=settings.model_copy(update={"data_roots": [str(tmp_path)]}))
    api.wait_for_dag(info.dag_id, timeout=180)  # the dag-processor re-parses and finds the new DAG
    deadline = time.monotonic() + 180
    while not (runs := api.runs(info.dag_id)) and time.monotonic() < deadline:
        time.sleep(2)
    (run,) = runs
    assert run["run_type"] == "scheduled"
    assert api.wait_for_run(info.dag_id, run["dag_run_id"], timeout=400) == "success"
    (day,) = list((tmp_path / "scheduled").iterdir())
    assert len(pd.read_parquet(day)) > 500
