"""Keep deployments running: every 5 minutes, restart any deployment's server or gateway that died.

Deployments are desired state. A server that is gone or not ready is started again from the
same bento on a new backend port, checked, and routed behind the model's unchanged URL; its
deployment record (id, version) stays. Each repair writes an event; a repair that fails fails
the task, so the run shows red and the reason is in its log and in the events. It runs on the
Celery queue `MODELYARD_SERVING_QUEUE`, on the machine that hosts the model servers.
"""

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from serving_tasks import SERVING_QUEUE


@task
def reconcile() -> list[dict]:
    from dataclasses import asdict

    from airflow.sdk.exceptions import AirflowFailException

    from bento_services.reconcile import reconcile as reconcile_deployments
    from registry.settings import get_settings

    repaired = reconcile_deployments(settings=get_settings(), actor="airflow:reconcile_deployments")
    repairs = [asdict(repair) for repair in repaired]
    failed = [repair for repair in repairs if repair["action"] == "failed"]
    if failed:
        raise AirflowFailException(f"could not restart: {failed}")
    return repairs


@dag(
    dag_id="reconcile_deployments",
    schedule=timedelta(minutes=5),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    doc_md=__doc__,
    tags=["modelyard", "serving"],
    default_args={"owner": "modelyard", "retries": 1, "retry_delay": timedelta(minutes=1),
                  "queue": SERVING_QUEUE},
)
def reconcile_deployments():
    reconcile()


reconcile_deployments()
