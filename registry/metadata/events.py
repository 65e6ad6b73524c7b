"""The event history: every action on a model writes one row."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from datetime import datetime
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.metadata.tables import Event


class EventRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    created_at: datetime
    actor: str
    action: str
    model_name: str | None
    model_version: int | None
    details: dict[str, Any]


def record_event(
    session: Session,
    *,
    actor: str,
    action: str,
    model_name: str | None = None,
    model_version: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        Event(
            actor=actor,
            action=action,
            model_name=model_name,
            model_version=model_version,
            details=details or {},
        )
    )
    session.flush()


def events_for(
    session: Session, *, model_name: str, model_version: int | None = None, limit: int = 200
) -> list[EventRecord]:
    """Newest first; with a version, that version's events plus model-wide ones."""
    query = select(Event).where(Event.model_name == model_name)
    if model_version is not None:
        query = query.where(
            (Event.model_version == model_version) | (Event.model_version.is_(None))
        )
    rows = session.scalars(query.order_by(Event.id.desc()).limit(limit))
    return [EventRecord.model_validate(row) for row in rows]
