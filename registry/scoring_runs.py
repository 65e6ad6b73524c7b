"""Reading the record of batch scoring runs (written by ``pipelines.scoring``)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from registry.metadata.db import session_scope
from registry.metadata.tables import ScoringRun
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
