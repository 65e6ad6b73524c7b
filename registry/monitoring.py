"""What monitoring found for a model, kept in the metadata database: one record per pass over a
window of the request log (``online``) or per batch scoring run (``batch``), with its alerts,
and each model's alert thresholds. The passes themselves are ``pipelines.monitoring``'s; the
CLI, the monitoring DAG and the Models page read these records.

Batch and online figures sit on one scale: PSI per feature against the training profile's bins,
as the batch runs always computed it (``pipelines.scoring.drift``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, select

from registry.metadata.db import session_scope
from registry.metadata.tables import MonitoringRun, MonitoringThresholds
from registry.settings import Settings


class FeatureQuality(BaseModel):
    """Of one feature's values in the window: how many were null, outside the training range
    (with the same tolerance as batch validation), or a category training never saw."""

    nulls: int = 0
    out_of_range: int = 0
    unseen: int = 0


class Figures(BaseModel):
    """Everything one pass measured. Absent parts stay None (no labels yet, no reference...)."""

    requests: int = 0
    rows: int = 0
    errors: int = 0  # requests answered with a status >= 500 (the gateway's count of errors)
    refused: int = 0  # requests refused as bad input (4xx)
    error_rate: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    requests_per_min: float | None = None
    feature_psi: dict[str, float] = {}  # against the training profile
    previous_psi: dict[str, float] = {}  # against the window before
    drifted_features: list[str] = []  # PSI >= the model's psi threshold, against training
    drifted_share: float | None = None
    data_quality: dict[str, FeatureQuality] = {}
    prediction_psi: float | None = None  # the prediction's distribution (class mix or values) against validation
    prediction_mix: dict[str, float] = {}  # class -> share (classifiers), or quantiles of the value (regressors)
    labelled_rows: int = 0
    metrics: dict[str, float] = {}  # the validation metrics, on the labelled rows of the window
    feature_histograms: dict[str, list[int]] = {}  # counts per training bin: the next window's reference
    notes: list[str] = []  # what could not be measured and why (no prediction profile, no training bins...)


class Alert(BaseModel):
    rule: Literal["feature_psi", "drifted_share", "error_rate", "latency_p99_ms", "metric_floor"]
    message: str  # a sentence a person reads in Slack: what, how much, against which line
    value: float
    threshold: float
    subject: str | None = None  # the feature or metric it is about


class Thresholds(BaseModel):
    """When a pass raises an alert; the defaults are the issue's and the README's."""

    model_config = ConfigDict(extra="forbid")

    psi: float = Field(0.25, gt=0, description="a feature's PSI against training at or above this is drift")
    drifted_share: float = Field(0.30, ge=0, le=1, description="alert when more than this share of features drift")
    min_drift_rows: int = Field(200, ge=1, description="an online window needs this many scored rows before its "
                                "drift raises alerts (the PSI of fewer rows is mostly sampling noise)")
    error_rate: float = Field(0.01, ge=0, le=1, description="alert when more than this share of requests fail")
    latency_p99_ms: float | None = Field(1000.0, gt=0, description="alert when p99 latency exceeds this")
    metric_floors: dict[str, float] = Field(default_factory=dict,
                                            description="alert when a labelled metric falls below its floor")
    webhook_url: str | None = Field(None, description="POSTed a Slack-compatible JSON body on every alert")


class MonitoringRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    model_name: str
    model_version: int | None
    source: Literal["online", "batch"]
    window_start: datetime
    window_end: datetime
    created_at: datetime
    scoring_run_id: str | None
    figures: Figures
    alerts: list[Alert]
    mlflow_run_id: str | None


def record_run(settings: Settings, *, model_name: str, model_version: int | None, source: str,
               window_start: datetime, window_end: datetime, figures: Figures, alerts: list[Alert],
               scoring_run_id: str | None = None, mlflow_run_id: str | None = None) -> MonitoringRecord:
    with session_scope(settings) as session:
        row = MonitoringRun(model_name=model_name, model_version=model_version, source=source,
                            window_start=window_start, window_end=window_end, scoring_run_id=scoring_run_id,
                            figures=figures.model_dump(mode="json"),
                            alerts=[alert.model_dump(mode="json") for alert in alerts], mlflow_run_id=mlflow_run_id)
        session.add(row)
        session.flush()
        return MonitoringRecord.model_validate(row)


def runs_for(settings: Settings, model_name: str, *, since: datetime | None = None,
             source: str | None = None, limit: int = 500) -> list[MonitoringRecord]:
    """A model's records, oldest window first (the newest ``limit``)."""
    query = select(MonitoringRun).where(MonitoringRun.model_name == model_name)
    if since is not None:
        query = query.where(MonitoringRun.window_end > since)
    if source is not None:
        query = query.where(MonitoringRun.source == source)
    with session_scope(settings) as session:
        rows = session.scalars(query.order_by(MonitoringRun.window_end.desc(), MonitoringRun.id.desc()).limit(limit))
        return [MonitoringRecord.model_validate(row) for row in rows][::-1]


def last_window_end(settings: Settings, model_name: str) -> datetime | None:
    """Where the next online pass of this model starts."""
    (last,) = runs_for(settings, model_name, source="online", limit=1) or (None,)
    return last.window_end if last else None


def update_figures(settings: Settings, record_id: int, figures: Figures,
                   alerts: list[Alert] | None = None) -> MonitoringRecord:
    """Replace a record's figures (and alerts, when given): labels that arrived late change the
    labelled metrics of the window their requests were answered in."""
    from registry.errors import InvalidFieldError

    with session_scope(settings) as session:
        row = session.get(MonitoringRun, record_id)
        if row is None:
            raise InvalidFieldError(f"no monitoring record {record_id}", field="record_id")
        row.figures = figures.model_dump(mode="json")
        if alerts is not None:
            row.alerts = [alert.model_dump(mode="json") for alert in alerts]
        session.flush()
        return MonitoringRecord.model_validate(row)


def thresholds_for(settings: Settings, model_name: str) -> Thresholds:
    with session_scope(settings) as session:
        row = session.get(MonitoringThresholds, model_name)
        return Thresholds.model_validate(row.values if row else {})


def set_thresholds(settings: Settings, model_name: str, changes: dict[str, Any], *, actor: str) -> Thresholds:
    """Change some thresholds of a model (validated whole: a bad value names its field)."""
    from pydantic import ValidationError

    from registry.errors import invalid_settings
    from registry.metadata.events import record_event

    with session_scope(settings) as session:
        row = session.get(MonitoringThresholds, model_name)
        try:
            merged = Thresholds.model_validate({**(row.values if row else {}), **changes})
        except ValidationError as error:
            raise invalid_settings(error, "threshold") from error
        values = merged.model_dump(mode="json", exclude_defaults=True)
        if row is None:
            session.add(MonitoringThresholds(model_name=model_name, values=values, updated_by=actor))
        else:
            row.values, row.updated_by = values, actor
        record_event(session, actor=actor, action="thresholds_set", model_name=model_name, details=changes)
    return merged


def latest_records(settings: Settings, *, source: str = "online") -> dict[str, MonitoringRecord]:
    """Each model's newest record of one source that saw requests (else its newest), in one query:
    the record whose alerts are open. A window nobody called the model in is no evidence that a
    drift has gone, so it does not clear the alerts before it (the models list's health column)."""
    from sqlalchemy import func

    requests = MonitoringRun.figures["requests"].as_integer()
    newest = (select(MonitoringRun.model_name, func.max(MonitoringRun.id).label("any_id"),
                     func.max(case((requests > 0, MonitoringRun.id))).label("busy_id"))
              .where(MonitoringRun.source == source).group_by(MonitoringRun.model_name).subquery())
    with session_scope(settings) as session:
        rows = session.scalars(select(MonitoringRun).join(
            newest, MonitoringRun.id == func.coalesce(newest.c.busy_id, newest.c.any_id)))
        return {row.model_name: MonitoringRecord.model_validate(row) for row in rows}


def alerting_record(records: list[MonitoringRecord]) -> MonitoringRecord | None:
    """Of a model's online records (oldest first), the one whose alerts are open: the newest that
    saw requests, else the newest (as ``latest_records`` picks it)."""
    return next((record for record in reversed(records) if record.figures.requests), records[-1] if records else None)
