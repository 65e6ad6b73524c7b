"""Each window's figures as MLflow metrics, stamped with the window's end, in one MLflow run per
model (experiment ``<experiment>-monitoring``), so MLflow's UI charts them over time too."""

from __future__ import annotations

from datetime import datetime

from registry.monitoring import Figures
from registry.settings import Settings

SCALARS = ("requests", "rows", "errors", "error_rate", "latency_p50_ms", "latency_p99_ms", "requests_per_min",
           "drifted_share", "prediction_psi", "labelled_rows")


def figure_metrics(figures: Figures) -> dict[str, float]:
    metrics = {name: float(getattr(figures, name)) for name in SCALARS if getattr(figures, name) is not None}
    metrics |= {f"psi_{feature}": value for feature, value in figures.feature_psi.items()}
    metrics |= {f"psi_previous_{feature}": value for feature, value in figures.previous_psi.items()}
    metrics |= {f"prediction_{label}": value for label, value in figures.prediction_mix.items()}
    metrics |= {f"labelled_{metric}": value for metric, value in figures.metrics.items()}
    for kind in ("nulls", "out_of_range", "unseen"):
        metrics[f"data_quality_{kind}"] = float(sum(getattr(q, kind) for q in figures.data_quality.values()))
    return metrics


def monitoring_run(settings: Settings, name: str) -> str:
    """The model's monitoring run (created the first time)."""
    from registry.store import mlflow_client

    client = mlflow_client(settings)
    experiment_name = f"{settings.experiment}-monitoring"
    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(
        experiment_name, artifact_location=f"{settings.artifact_root.rstrip('/')}/monitoring")
    found = client.search_runs([experiment_id], filter_string=f"tags.`modelyard.model` = '{name}'", max_results=1)
    if found:
        return found[0].info.run_id
    run = client.create_run(experiment_id, run_name=f"{name}-monitoring",
                            tags={"modelyard.model": name, "mlflow.user": settings.user})
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def log_figures(settings: Settings, name: str, figures: Figures, window_end: datetime) -> str:
    """Log every figure at the window end's timestamp (and as the step, in seconds); returns the run id."""
    return log_metrics(settings, name, figure_metrics(figures), window_end)


def log_metrics(settings: Settings, name: str, values: dict[str, float], window_end: datetime) -> str:
    from mlflow.entities import Metric

    from registry.store import mlflow_client

    run_id = monitoring_run(settings, name)
    stamp = int(window_end.timestamp() * 1000)
    metrics = [Metric(key, float(value), stamp, stamp // 1000) for key, value in values.items()]
    client = mlflow_client(settings)
    for start in range(0, len(metrics), 1000):  # MLflow's batch limit
        client.log_batch(run_id, metrics=metrics[start:start + 1000])
    return run_id
