"""Deploy a model version as an online service: the Models page's Deploy action triggers this.

Params: the model reference (`NAME@ALIAS` or `NAME/VERSION`, pinned to one version by the
build) and, for a model's first deploy only, its endpoint port (0: the first free from 3000).

Tasks: build -> launch -> health_check -> parity_check -> promote. `launch` starts
`bentoml serve` in its own session, so the server outlives the task that started it; `promote`
points the model's stable URL at it, moves the `production` alias and retires the deployment it
replaces once nothing is in flight to that one. A failing task stops what was launched, records
the deployment as failed with the step and the reason, and leaves the current one serving.
Tasks do not retry: a half-done deploy is abandoned and recorded, then deployed again. They run
on the Celery queue `MODELYARD_SERVING_QUEUE` (default `default`): with Celery workers, the
worker that consumes it is the machine that hosts the model servers.
"""

import os

import pendulum
from airflow.sdk import Param, dag, task


def _failing_as(step: str, built: dict, launched: dict | None, error: Exception):
    """Stop what was started, record the failure, and fail the task for good."""
    from airflow.sdk.exceptions import AirflowFailException

    from bento_services.deploy import Build, Launch, abandon

    failure = abandon(step, error, Build(**built), Launch(**launched) if launched else None)
    return AirflowFailException(str(failure))


@task
def build(model_ref: str) -> dict:
    """Resolve, download, load-check and `bentoml build` the version (records its own failure)."""
    from airflow.sdk.exceptions import AirflowFailException

    from bento_services.deploy import build as build_bento
    from registry.errors import ModelyardError

    try:
        return build_bento(model_ref).model_dump(mode="json")
    except ModelyardError as error:
        raise AirflowFailException(str(error)) from error


@task
def launch(built: dict) -> dict:
    """`bentoml serve` the bento on a spare loopback port, in its own session."""
    from bento_services.deploy import Build, launch as launch_server

    try:
        return launch_server(Build(**built)).model_dump(mode="json")
    except Exception as error:
        raise _failing_as("launch", built, None, error) from error


@task
def health_check(launched: dict) -> dict:
    """Until `/readyz` answers; records the server's worker PIDs."""
    from bento_services.deploy import Launch, check_health

    try:
        return check_health(Launch(**launched)).model_dump(mode="json")
    except Exception as error:
        raise _failing_as("ready", launched["build"], launched, error) from error


@task
def parity_check(launched: dict) -> dict:
    """The endpoint's answer on the input example must equal the in-process predictor's."""
    from bento_services.deploy import Launch, check_parity

    try:
        check_parity(Launch(**launched))
    except Exception as error:
        raise _failing_as("smoke test", launched["build"], launched, error) from error
    return launched


@task
def promote(launched: dict, port: int) -> dict:
    """Route the model's URL to the new server, move `production`, retire the old server."""
    from bento_services.deploy import Launch, promote as promote_launch

    try:
        return promote_launch(Launch(**launched), port=port or None).model_dump(mode="json")
    except Exception as error:
        raise _failing_as("promote", launched["build"], launched, error) from error


@dag(
    dag_id="deploy_model",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["modelyard", "serving"],
    default_args={"owner": "modelyard", "retries": 0,
                  "queue": os.environ.get("MODELYARD_SERVING_QUEUE", "default")},  # parse time: no Settings import
    params={
        "model_ref": Param("breast_cancer_classifier@champion", type="string", minLength=1,
                           description="NAME@ALIAS or NAME/VERSION"),
        "port": Param(0, type="integer", minimum=0, maximum=65535,
                      description="Endpoint port for a model's first deploy; 0 = keep or pick"),
    },
    render_template_as_native_obj=True,
)
def deploy_model():
    built = build("{{ params.model_ref }}")
    promote(parity_check(health_check(launch(built))), "{{ params.port }}")


deploy_model()
