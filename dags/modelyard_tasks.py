"""Task bodies shared by Modelyard's scoring workflows. Not a DAG file (see .airflowignore).

Each task is a few lines that call a ``pipelines`` function; pandas, MLflow, Dask and Great
Expectations are imported inside the tasks, never when the DAG processor parses the files.
Results travel between tasks as small JSON dicts (XCom).
"""

from __future__ import annotations

import functools

from airflow.sdk import Connection, get_current_context, task

DASK_CONNECTION = "dask_default"


def _dask_address() -> str | None:
    """The ``dask_default`` Connection when there is one, else Modelyard's setting (else local)."""
    from registry.settings import get_settings

    try:
        connection = Connection.get(DASK_CONNECTION)
    except Exception:  # AirflowNotFoundException: no such connection is configured
        return get_settings().dask_scheduler
    return f"tcp://{connection.host}:{connection.port or 8786}"


def _settings():
    """Modelyard's settings with the cluster of ``dask_default``: a task with a warm cluster
    hands its work to it (``pipelines.scoring.on_cluster``) instead of importing MLflow,
    scikit-learn and Great Expectations and loading the model in its own process."""
    from registry.settings import get_settings

    return get_settings().model_copy(update={"dask_scheduler": _dask_address()})


def acting_user(context) -> str:
    """Who triggered the run (the Models page's or the REST API's user), else the DAG itself."""
    return context["dag_run"].triggering_user_name or f"airflow:{context['dag'].dag_id}"


def _run_id() -> str:
    """One scoring run id per DAG run, so a retried task replaces its own output."""
    from registry.scoring_runs import scoring_run_id

    context = get_current_context()
    return scoring_run_id(context["dag"].dag_id, context["run_id"])


def fails_without_retry(body):
    """Bad input or an unknown model will not get better on retry: fail the task for good."""

    @functools.wraps(body)
    def wrapper(*args, **kwargs):
        from airflow.sdk.exceptions import AirflowFailException

        from registry.errors import ModelyardError

        try:
            return body(*args, **kwargs)
        except ModelyardError as error:
            raise AirflowFailException(str(error)) from error

    return wrapper


@task(task_display_name="Resolve model")
@fails_without_retry
def resolve_model(model_ref: str) -> dict:
    """Pin the reference (an alias follows its target at each run) to one version."""
    from pipelines.scoring import resolve_model as resolve

    return resolve(model_ref, _settings()).model_dump(mode="json")


@task(task_display_name="Validate input")
@fails_without_retry
def validate_input(request: dict, model: dict) -> dict:
    """Run the model's expectations over the input; the ``fail`` policy stops the run here."""
    from pipelines.scoring import ResolvedModel, ScoringRequest, validate_input as validate

    summary = validate(ScoringRequest(**request), ResolvedModel(**model), settings=_settings())
    return summary.model_dump(mode="json")


@task(task_display_name="Score")
@fails_without_retry
def score_batch(request: dict, model: dict, validation: dict) -> dict:
    """Score and write the output; valid rows only under ``quarantine``."""
    from pipelines.scoring import ResolvedModel, ScoringRequest, score_batch as score

    request = ScoringRequest(**request, run_id=_run_id(), requested_by=acting_user(get_current_context()))
    return score(request, ResolvedModel(**model), settings=_settings()).model_dump(mode="json")


@task(task_display_name="Record metrics")
def record_metrics(result: dict) -> str:
    """Log the run's counts, speed and drift to MLflow; returns the MLflow run id."""
    from pipelines.scoring import ScoringResult, log_to_mlflow

    return log_to_mlflow(ScoringResult(**result), _settings())


def scoring_chain(request: dict) -> None:
    """resolve_model -> validate_input -> score_batch -> record_metrics for one request."""
    model = resolve_model(request["model_ref"])
    validation = validate_input(request, model)
    record_metrics(score_batch(request, model, validation))
