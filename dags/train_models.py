"""Train the demo models and register them, so scheduled training lands in the repository too.

Every model trained here is registered with its training and validation metrics, data profile,
feature importance and evaluation plots, exactly as `modelyard train` does. The weekly schedule
starts paused: unpause the DAG to retrain every week, or trigger it on demand.
"""

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task


@task
def train_models(models: list[str]) -> list[str]:
    """Returns the registered versions as NAME/VERSION."""
    from pipelines.training import train_demo_models

    return [version.ref for version in train_demo_models(models or None)]


@dag(
    dag_id="train_models",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=True,
    doc_md=__doc__,
    tags=["modelyard", "training"],
    default_args={"owner": "modelyard", "retries": 1, "retry_delay": timedelta(minutes=5)},
    params={"models": Param([], type="array", items={"type": "string"},
                            description="Demo models to train; empty for all")},
    render_template_as_native_obj=True,
)
def train_models_dag():
    train_models("{{ params.models }}")


train_models_dag()
