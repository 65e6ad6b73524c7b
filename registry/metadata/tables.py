"""The metadata schema. Alembic migrations in ``migrations/`` create and evolve it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator):
    """Timestamps come back aware, in UTC, whatever the database (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UtcDateTime()}


class Event(Base):
    """Who did what to which model version, when. Every action writes one."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_model", "model_name", "model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str | None] = mapped_column(String(256))
    model_version: Mapped[int | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Association(Base):
    """A model plugged into a scoring workflow, with its schedule and data locations."""

    __tablename__ = "associations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    model_ref: Mapped[str] = mapped_column(String(300))
    workflow: Mapped[str] = mapped_column(String(200))
    schedule: Mapped[str | None] = mapped_column(String(100))
    input_path: Mapped[str] = mapped_column(Text)
    output_path: Mapped[str] = mapped_column(Text)
    policy: Mapped[str] = mapped_column(String(20), default="fail")
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class ModelExpectation(Base):
    """A Great Expectations expectation a user attached to a model's input, beyond the derived ones."""

    __tablename__ = "model_expectations"
    __table_args__ = (Index("ix_model_expectations_model", "model_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(256))
    expectation_type: Mapped[str] = mapped_column(String(200))
    kwargs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class Deployment(Base):
    """One launch of a model version as an online service; the latest per model is desired."""

    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_model", "model_name"), Index("ix_deployments_request", "request_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(256))
    model_version: Mapped[int]
    bento_tag: Mapped[str | None] = mapped_column(String(300))
    bento_error: Mapped[str | None] = mapped_column(Text)  # why its bento, built after it served (a swap's), failed
    url: Mapped[str | None] = mapped_column(String(300))
    port: Mapped[int | None]
    pids: Mapped[list[Any]] = mapped_column(default=list)  # every replica's processes, to stop them all
    replicas: Mapped[list[Any] | None] = mapped_column(JSON)  # [{"port", "pids"}] per replica; None: one, above
    status: Mapped[str] = mapped_column(String(32))
    status_reason: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(250))  # the workflow run that asked for it
    runtime: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # registry.runtimes.RuntimeChoice, as JSON
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class Endpoint(Base):
    """A model's stable URL: the gateway process that forwards it to the current deployment."""

    __tablename__ = "endpoints"

    model_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    port: Mapped[int]
    url: Mapped[str] = mapped_column(String(300))
    pids: Mapped[list[Any]] = mapped_column(default=list)
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ScoringRun(Base):
    """One batch scoring run: what was scored with which version, and how it went."""

    __tablename__ = "scoring_runs"
    __table_args__ = (Index("ix_scoring_runs_model", "model_name", "model_version"),)

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(256))
    model_version: Mapped[int]
    association_id: Mapped[int | None] = mapped_column(
        ForeignKey("associations.id", ondelete="SET NULL")
    )
    input_path: Mapped[str] = mapped_column(Text)
    output_path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    policy: Mapped[str] = mapped_column(String(20))
    rows_in: Mapped[int | None]
    rows_scored: Mapped[int | None]
    rows_rejected: Mapped[int | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)
    rows_per_s: Mapped[float | None] = mapped_column(Float)
    validation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prediction_summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    drift: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class MonitoringRun(Base):
    """What one monitoring pass (online: the request log of a window; batch: a scoring run) found."""

    __tablename__ = "monitoring_runs"
    __table_args__ = (Index("ix_monitoring_runs_model", "model_name", "window_end"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(256))
    model_version: Mapped[int | None]  # None: the window spans several versions of the model
    source: Mapped[str] = mapped_column(String(16))  # "online" | "batch"
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    scoring_run_id: Mapped[str | None] = mapped_column(String(200))
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)  # registry.monitoring.Figures
    alerts: Mapped[list[Any]] = mapped_column(default=list)  # [registry.monitoring.Alert]
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))


class MonitoringThresholds(Base):
    """A model's alert thresholds where they differ from the defaults, and where to send alerts."""

    __tablename__ = "monitoring_thresholds"

    model_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200))


class Challenge(Base):
    """A challenger version behind a champion's URL: how it gets traffic, the rule that may end or
    promote it, and how it ended. Its replicas are the deployment row ``deployment_id``."""

    __tablename__ = "challenges"
    __table_args__ = (Index("ix_challenges_model", "model_name", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(256))
    champion_version: Mapped[int]
    challenger_version: Mapped[int]
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))
    mode: Mapped[str] = mapped_column(String(16))  # "shadow" | "canary"
    percent: Mapped[float] = mapped_column(Float)
    sticky_header: Mapped[str | None] = mapped_column(String(200))
    rule: Mapped[dict[str, Any]] = mapped_column(default=dict)  # registry.challenges.Rule
    status: Mapped[str] = mapped_column(String(16))  # "active" | "promoted" | "ended"
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_by: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(Text)  # why it ended, in a sentence
    evaluation: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the last comparison and rule check


class RetrainingPolicy(Base):
    """When a model trained here is retrained by itself, on which data, and the floor its new
    version must clear before it goes into a shadow challenge (``registry.retraining``)."""

    __tablename__ = "retraining_policies"

    model_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_retrained_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200))
