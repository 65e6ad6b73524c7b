"""Recording scoring runs: a row in the metadata DB for every run, and an MLflow run with metrics.

The DB row is written when the run starts and updated when it ends, so a crashed run is visible
as ``running``/``failed`` rather than missing. Re-using a run id replaces the row.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pipelines.scoring.schema import ResolvedModel, ScoringRequest, ScoringResult
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import Association, ScoringRun
from registry.settings import Settings, get_settings


def _association_id(session, name: str | None) -> int | None:
    if name is None:
        return None
    association = session.query(Association).filter_by(name=name).one_or_none()
    return association.id if association else None


def record_started(run_id: str, request: ScoringRequest, model: ResolvedModel, settings: Settings) -> None:
    with session_scope(settings) as session:
        session.merge(ScoringRun(
            id=run_id, model_name=model.name, model_version=model.version,
            association_id=_association_id(session, request.association),
            input_path=request.input_path, output_path=request.output_path, status="running",
            policy=request.policy, started_at=datetime.now(timezone.utc), finished_at=None,
            rows_in=None, rows_scored=None, rows_rejected=None, error=None,
        ))


def record_failed(run_id: str, error: BaseException, settings: Settings, *, actor: str) -> None:
    with session_scope(settings) as session:
        run = session.get(ScoringRun, run_id)
        if run is not None:
            run.status, run.error, run.finished_at = "failed", str(error), datetime.now(timezone.utc)
            record_event(session, actor=actor, action="scoring_failed", model_name=run.model_name,
                         model_version=run.model_version, details={"run_id": run_id, "error": str(error)[:500]})


def record_finished(result: ScoringResult, settings: Settings, *, actor: str) -> None:
    with session_scope(settings) as session:
        run = session.get(ScoringRun, result.run_id)
        run.status = result.status
        run.rows_in, run.rows_scored, run.rows_rejected = result.rows_in, result.rows_scored, result.rows_rejected
        run.finished_at = datetime.now(timezone.utc)
        run.duration_s, run.rows_per_s = result.duration_s, result.rows_per_s
        run.validation = result.validation.model_dump(mode="json")
        run.prediction_summary = result.prediction_summary
        run.drift = result.drift
        record_event(session, actor=actor, action="scored", model_name=result.model_name,
                     model_version=result.model_version,
                     details={"run_id": result.run_id, "rows_scored": result.rows_scored,
                              "rows_rejected": result.rows_rejected, "output": result.output_path})


def log_to_mlflow(result: ScoringResult, settings: Settings | None = None) -> str:
    """An MLflow run in the scoring experiment with the run's counts, speed and drift."""
    from mlflow.entities import Metric, Param, RunTag

    from registry.store import mlflow_client

    settings = settings or get_settings()
    client = mlflow_client(settings)
    name = f"{settings.experiment}-scoring"
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(
        name, artifact_location=f"{settings.artifact_root.rstrip('/')}/scoring")
    run = client.create_run(experiment_id, run_name=result.run_id, tags={
        "modelyard.scoring_run_id": result.run_id, "modelyard.model": result.model_name,
        "modelyard.model_version": str(result.model_version), "mlflow.user": settings.user})
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    metrics = {"rows_in": result.rows_in, "rows_scored": result.rows_scored,
               "rows_rejected": result.rows_rejected, "duration_s": result.duration_s,
               "rows_per_s": result.rows_per_s,
               **{f"psi_{feature}": value for feature, value in result.drift.items()}}
    params = {"model_uri": f"models:/{result.model_name}/{result.model_version}",
              "input_path": result.input_path, "output_path": result.output_path, "policy": result.policy}
    client.log_batch(run.info.run_id,
                     metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                     params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                     tags=[RunTag("modelyard.validation_success", str(result.validation.success))])
    client.log_dict(run.info.run_id, result.model_dump(mode="json"), "scoring_result.json")
    client.set_terminated(run.info.run_id, "FINISHED" if result.status == "succeeded" else "FAILED")
    with session_scope(settings) as session:
        session.get(ScoringRun, result.run_id).mlflow_run_id = run.info.run_id
    return run.info.run_id
