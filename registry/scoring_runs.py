"""The record of batch scoring runs: its reads, for every front, and its writes, made by
``pipelines.scoring`` as each run starts and ends.

The row is written when a run starts and updated when it ends, so a crashed run shows as
``running`` or ``failed`` rather than missing. Re-using a run id replaces the row.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import Association, ScoringRun
from registry.settings import Settings, get_settings


class ScoringRunInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    model_name: str
    model_version: int
    status: str
    policy: str
    input_path: str
    output_path: str
    rows_in: int | None
    rows_scored: int | None
    rows_rejected: int | None
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    rows_per_s: float | None
    validation: dict[str, Any]
    drift: dict[str, Any]
    mlflow_run_id: str | None
    error: str | None


def list_scoring_runs(
    model_name: str | None = None, *, model_version: int | None = None, limit: int = 20,
    settings: Settings | None = None,
) -> list[ScoringRunInfo]:
    """Newest first (of one model, and one version of it, when named)."""
    query = select(ScoringRun).order_by(ScoringRun.started_at.desc()).limit(limit)
    if model_name is not None:
        query = query.where(ScoringRun.model_name == model_name)
    if model_version is not None:
        query = query.where(ScoringRun.model_version == model_version)
    with session_scope(settings or get_settings()) as session:
        return [ScoringRunInfo.model_validate(row) for row in session.scalars(query)]


def last_runs(*, settings: Settings) -> dict[str, ScoringRunInfo]:
    """Each model's most recent scoring run, in one query."""
    from sqlalchemy import func

    newest = (select(ScoringRun.model_name, func.max(ScoringRun.started_at).label("started"))
              .group_by(ScoringRun.model_name).subquery())
    query = select(ScoringRun).join(newest, (ScoringRun.model_name == newest.c.model_name)
                                    & (ScoringRun.started_at == newest.c.started))
    with session_scope(settings) as session:
        return {row.model_name: ScoringRunInfo.model_validate(row) for row in session.scalars(query)}


def scoring_run_id(dag_id: str, airflow_run_id: str) -> str:
    """The scoring run a DAG run records: one per DAG run, so a retried task replaces its own."""
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", f"{dag_id}__{airflow_run_id}")


def scoring_run_of(dag_id: str, airflow_run_id: str, *, settings: Settings) -> ScoringRunInfo | None:
    """What a scoring DAG run recorded (rows in, scored, rejected, the output), or None yet."""
    with session_scope(settings) as session:
        row = session.get(ScoringRun, scoring_run_id(dag_id, airflow_run_id))
        return ScoringRunInfo.model_validate(row) if row else None


# --- writes: made by pipelines.scoring ---------------------------------------------------------

def record_started(run_id: str, *, model_name: str, model_version: int, association: str | None, input_path: str,
                   output_path: str, policy: str, settings: Settings) -> None:
    with session_scope(settings) as session:
        session.merge(ScoringRun(
            id=run_id, model_name=model_name, model_version=model_version,
            association_id=_association_id(session, association), input_path=input_path, output_path=output_path,
            status="running", policy=policy, started_at=datetime.now(timezone.utc), finished_at=None,
            rows_in=None, rows_scored=None, rows_rejected=None, error=None,
        ))


def record_failed(run_id: str, error: str, *, actor: str, settings: Settings) -> None:
    with session_scope(settings) as session:
        run = session.get(ScoringRun, run_id)
        if run is not None:
            run.status, run.error, run.finished_at = "failed", error, datetime.now(timezone.utc)
            record_event(session, actor=actor, action="scoring_failed", model_name=run.model_name,
                         model_version=run.model_version, details={"run_id": run_id, "error": error[:500]})


def record_finished(run_id: str, *, status: str, rows_in: int, rows_scored: int, rows_rejected: int,
                    duration_s: float, rows_per_s: float, validation: dict[str, Any],
                    prediction_summary: dict[str, Any], drift: dict[str, float], output_path: str, actor: str,
                    settings: Settings) -> None:
    """The run's outcome, with a ``scored`` event naming the actor."""
    with session_scope(settings) as session:
        run = session.get(ScoringRun, run_id)
        run.status, run.finished_at = status, datetime.now(timezone.utc)
        run.rows_in, run.rows_scored, run.rows_rejected = rows_in, rows_scored, rows_rejected
        run.duration_s, run.rows_per_s = duration_s, rows_per_s
        run.validation, run.prediction_summary, run.drift = validation, prediction_summary, drift
        record_event(session, actor=actor, action="scored", model_name=run.model_name,
                     model_version=run.model_version,
                     details={"run_id": run_id, "rows_scored": rows_scored, "rows_rejected": rows_rejected,
                              "output": output_path})


def set_mlflow_run(run_id: str, mlflow_run_id: str, *, settings: Settings) -> None:
    """The MLflow run that holds the run's figures."""
    with session_scope(settings) as session:
        session.get(ScoringRun, run_id).mlflow_run_id = mlflow_run_id


def _association_id(session, name: str | None) -> int | None:
    if name is None:
        return None
    association = session.scalars(select(Association).where(Association.name == name)).one_or_none()
    return association.id if association else None
