"""Watch deployed models: every hour (and on demand), one monitoring pass per model over the
window of its request log since its last pass.

Each pass records traffic, latency, errors, feature drift (PSI against training and against the
window before), data quality, prediction drift and, once labels exist, the model's metrics; each
figure is an MLflow metric too. A pass that raises alerts is recorded first, then fails its task
with the alerts in the message, so Airflow's own alerting applies. A model with a retraining
policy is retrained when its pass finds enough drift, or when its schedule comes round. Params: `model` (a name, or
null for every model with a running deployment).
"""

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from modelyard_tasks import acting_user, fails_without_retry


@task
def monitored_models() -> list[str]:
    """The model named in the run's params, else every running deployment's model."""
    from pipelines.monitoring.monitor import monitored_models as listing
    from registry.settings import get_settings

    return listing(get_settings(), get_current_context()["params"].get("model"))


@task(map_index_template="{{ model_name }}")
@fails_without_retry
def monitor_model(model_name: str) -> dict:
    """One pass over the model's window; fails (after recording) when it raised alerts."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipelines.monitoring.monitor import monitor_model as monitor
    from registry.settings import get_settings

    context = get_current_context()
    context["model_name"] = model_name
    record = monitor(get_settings(), model_name, actor=acting_user(context))
    if record.alerts:
        raise AirflowFailException(f"{len(record.alerts)} alert(s) for {model_name} "
                                   f"({record.window_start:%Y-%m-%d %H:%M}..{record.window_end:%H:%M} UTC): "
                                   + "; ".join(alert.message for alert in record.alerts))
    return {"record_id": record.id, "requests": record.figures.requests,
            "window_end": record.window_end.isoformat()}


@task
def retrain_on_schedule() -> list[dict]:
    """Retrain the models whose retraining policy's schedule has come round; each new version that
    clears its floor goes into a shadow challenge (a drift alert triggers the same in its pass)."""
    from pipelines.challenges.retrain import retrain_due
    from registry.settings import get_settings

    return [outcome.model_dump() for outcome in retrain_due(get_settings())]


@dag(
    dag_id="monitor_deployments",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # passes follow one another: each starts where the last ended
    is_paused_upon_creation=False,
    doc_md=__doc__,
    tags=["modelyard", "monitoring"],
    default_args={"owner": "modelyard", "retries": 1, "retry_delay": timedelta(minutes=1)},
    params={"model": Param(None, type=["null", "string"],
                           description="A model name; empty: every model with a running deployment")},
)
def monitor_deployments():
    monitor_model.expand(model_name=monitored_models())
    retrain_on_schedule()


monitor_deployments()
