"""One monitoring pass of a model: the window of its request log since the last pass, measured,
recorded, charted in MLflow, and alerted on; then labels that arrived late update the windows
their requests were answered in, and the log's retention is enforced."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pandas as pd

from pipelines.monitoring.alerts import evaluate_thresholds, metric_alerts, post_webhook, record_alert_events
from pipelines.monitoring.figures import window_figures
from pipelines.monitoring.labels import labelled_metrics, read_labels
from pipelines.monitoring.reader import log_files, model_log_path, read_window
from pipelines.monitoring.reference import Reference, load_reference
from pipelines.monitoring.tracking import log_figures, log_metrics
from registry.errors import InvalidFieldError, ModelNotFoundError
from registry.monitoring import (
    Alert, MonitoringRecord, Thresholds, last_window_end, record_run, runs_for, thresholds_for, update_figures,
)
from registry.settings import Settings

log = logging.getLogger(__name__)
FIRST_WINDOW = timedelta(hours=1)
# A window ends this far back from the clock: a replica's rows reach the log up to one flush
# interval (5 s) after they were answered, and a row that lands behind an ended window would
# never be counted.
SETTLE = timedelta(seconds=15)


def window_start(settings: Settings, name: str, end: datetime) -> datetime:
    """Where the last pass ended; the first time, the running deployment's start, else an hour back."""
    from registry.deployments import running

    last = last_window_end(settings, name)
    if last is not None:
        return last
    live = running(name, settings=settings)
    return live[0].created_at if live and live[0].created_at < end else end - FIRST_WINDOW


def window_versions(settings: Settings, name: str, start: datetime, end: datetime) -> list[int]:
    """The model versions that logged requests in the window."""
    fs, base = model_log_path(settings, name)
    return sorted({int(path.split("/version=", 1)[1].split("/", 1)[0]) for path in log_files(fs, base, start, end)})


def reference_version(settings: Settings, name: str, versions: list[int]) -> int:
    """The newest version in the window, else the deployed one, else the newest registered."""
    from registry.deployments import running
    from registry.store import latest_version, mlflow_client

    if versions:
        return versions[-1]
    live = running(name, settings=settings)
    if live:
        return live[0].model_version
    latest = latest_version(mlflow_client(settings), name)
    if latest is None:
        raise ModelNotFoundError(f"model {name!r} does not exist", field="name")
    return int(latest.version)


def monitor_model(settings: Settings, name: str, *, now: datetime | None = None, actor: str) -> MonitoringRecord:
    """Measure the model's requests since its last pass, record the figures and their alerts."""
    from registry.request_logs import enforce_retention

    end = (now or datetime.now(timezone.utc) - SETTLE).astimezone(timezone.utc)
    start = window_start(settings, name, end)
    if start >= end:
        raise InvalidFieldError(f"{end.isoformat()} is not after the last window's end {start.isoformat()}",
                                field="now")
    versions = window_versions(settings, name, start, end)
    reference = load_reference(settings, name, reference_version(settings, name, versions))
    thresholds = thresholds_for(settings, name)
    frame = read_window(settings, name, start, end, features=reference.feature_types(),
                        outputs=reference.output_types())
    (previous,) = runs_for(settings, name, source="online", limit=1) or (None,)
    figures = window_figures(frame, reference, start=start, end=end, psi_line=thresholds.psi,
                             previous=previous.figures if previous else None)
    labels = read_labels(settings, name)
    rows, metrics = labelled_metrics(frame, labels, reference)
    figures = figures.model_copy(update={"labelled_rows": rows, "metrics": metrics})
    few_rows = (figures.rows or 0) < thresholds.min_drift_rows
    if few_rows and figures.rows:
        figures.notes.append(f"drift not alerted on: {figures.rows} scored rows, fewer than the "
                             f"{thresholds.min_drift_rows} the min_drift_rows threshold asks")
    alerts = evaluate_thresholds(name, figures, thresholds, judge_drift=not few_rows)
    run_id = log_figures(settings, name, figures, end)
    record = record_run(settings, model_name=name, source="online", window_start=start, window_end=end,
                        model_version=versions[0] if len(versions) == 1 else None if versions else reference.version,
                        figures=figures, alerts=alerts, mlflow_run_id=run_id)
    announce(settings, record, alerts, thresholds, actor=actor)
    if not few_rows:
        from pipelines.challenges.retrain import retrain_if_drifted

        retrain_if_drifted(settings, name, figures.drifted_features, thresholds.psi)
    if previous is not None:
        relabel_earlier_windows(settings, name, labels, since=previous.created_at, current=record,
                                references={reference.version: reference}, thresholds=thresholds, actor=actor)
    enforce_retention(settings, now=end)
    return record


def announce(settings: Settings, record: MonitoringRecord, alerts: list[Alert], thresholds: Thresholds, *,
             actor: str) -> None:
    """An ``alert`` event per alert, and the webhook's POST (an undelivered one is an event too)."""
    if not alerts:
        return
    record_alert_events(settings, record, alerts, actor=actor)
    if thresholds.webhook_url and not post_webhook(thresholds.webhook_url, alerts):
        from registry.metadata.db import session_scope
        from registry.metadata.events import record_event

        with session_scope(settings) as session:
            record_event(session, actor=actor, action="alert_webhook_failed", model_name=record.model_name,
                         details={"record_id": record.id, "webhook_url": thresholds.webhook_url})


def relabel_earlier_windows(settings: Settings, name: str, labels: pd.DataFrame, *, since: datetime,
                            current: MonitoringRecord, references: dict[int, Reference], thresholds: Thresholds,
                            actor: str) -> list[MonitoringRecord]:
    """Recompute the labelled metrics of earlier windows whose requests got labels after ``since``."""
    fresh = labels[labels["added_at"] > pd.Timestamp(since)] if not labels.empty else labels
    earlier = [record for record in runs_for(settings, name, source="online")
               if record.id != current.id and record.window_end <= current.window_start]
    if fresh.empty or not earlier:
        return []
    found = read_window(settings, name, min(record.window_start for record in earlier), current.window_start,
                        columns=["request_id"], request_ids=sorted(set(fresh["request_id"])))
    updated = []
    for record in earlier:
        inside = (found["received_at"] >= record.window_start) & (found["received_at"] < record.window_end)
        if inside.any():
            updated.append(_relabel(settings, name, record, labels, references, thresholds, actor=actor))
    return updated


def _relabel(settings: Settings, name: str, record: MonitoringRecord, labels: pd.DataFrame,
             references: dict[int, Reference], thresholds: Thresholds, *, actor: str) -> MonitoringRecord:
    version = record.model_version or max(references)
    if version not in references:
        references[version] = load_reference(settings, name, version)
    reference = references[version]
    frame = read_window(settings, name, record.window_start, record.window_end,
                        columns=["request_id", "row", "status"], outputs=reference.output_types())
    rows, metrics = labelled_metrics(frame, labels, reference)
    figures = record.figures.model_copy(update={"labelled_rows": rows, "metrics": metrics})
    before = {alert.subject for alert in record.alerts if alert.rule == "metric_floor"}
    floors = metric_alerts(name, figures, thresholds)
    updated = update_figures(settings, record.id, figures,
                             [alert for alert in record.alerts if alert.rule != "metric_floor"] + floors)
    log_metrics(settings, name, {"labelled_rows": rows, **{f"labelled_{k}": v for k, v in metrics.items()}},
                record.window_end)
    announce(settings, updated, [alert for alert in floors if alert.subject not in before], thresholds, actor=actor)
    log.info("%s: window %s..%s relabelled: %d labelled rows", name, record.window_start, record.window_end, rows)
    return updated


def monitored_models(settings: Settings, model: str | None = None) -> list[str]:
    """The models a scheduled pass covers: the one named, else every model with a running deployment."""
    from registry.deployments import current_deployments
    from registry.refs import check_model_name

    if model:
        return [check_model_name(model)]
    return sorted(name for name, info in current_deployments(settings=settings, live=False).items()
                  if info.status == "running")
