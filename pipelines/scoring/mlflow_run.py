"""A scoring run in MLflow: its counts, speed and drift as metrics in the scoring experiment,
beside the row ``registry.scoring_runs`` keeps of it."""

from __future__ import annotations

from datetime import datetime, timezone

from pipelines.scoring.schema import ScoringResult
from registry.scoring_runs import set_mlflow_run
from registry.settings import Settings, get_settings


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
              "input_path": result.input_path, "output_path": result.output_path, "policy": result.policy,
              "runtime": result.runtime}
    client.log_batch(run.info.run_id,
                     metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                     params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                     tags=[RunTag("modelyard.validation_success", str(result.validation.success))])
    client.log_dict(run.info.run_id, result.model_dump(mode="json"), "scoring_result.json")
    client.set_terminated(run.info.run_id, "FINISHED" if result.status == "succeeded" else "FAILED")
    set_mlflow_run(result.run_id, run.info.run_id, settings=settings)
    return run.info.run_id
