"""Associations: a model plugged into a scoring workflow, with its schedule and data locations.

The database is the source of truth; every change also rewrites a JSON snapshot that the DAG
files read at parse time (DAG files never query a database).
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from registry.errors import ModelyardError, ModelNotFoundError
from registry.files import write_atomic
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import Association
from registry.refs import parse_ref
from registry.settings import Settings, get_settings

WORKFLOWS = ("batch_scoring",)
SNAPSHOT_ENV = "MODELYARD_ASSOCIATIONS_SNAPSHOT"
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
_PRESETS = {"@once", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@continuous"}


class AssociationError(ModelyardError):
    """An association that cannot be created as asked."""


class AssociationInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    model_ref: str
    workflow: str
    schedule: str | None
    input_path: str
    output_path: str
    policy: Literal["fail", "quarantine"]
    options: dict[str, Any]
    enabled: bool
    created_at: datetime
    created_by: str

    @property
    def dag_id(self) -> str:
        return f"score__{self.name}"


def snapshot_path(settings: Settings) -> Path:
    """Where DAG files find the associations: ``$MODELYARD_ASSOCIATIONS_SNAPSHOT`` or the home."""
    return Path(os.environ.get(SNAPSHOT_ENV) or settings.home / "associations.json")


def _check_schedule(schedule: str | None) -> None:
    if schedule is None or schedule in _PRESETS:
        return
    from croniter import croniter

    if not croniter.is_valid(schedule):
        raise AssociationError(f"invalid schedule {schedule!r}: use a cron expression or a preset like @daily")


def _default_name(ref, workflow: str, session) -> str:
    pin = ref.alias or (f"v{ref.version}" if ref.version else "latest")
    suffix = "" if workflow == "batch_scoring" else f"_{workflow}"
    base = re.sub(r"[^A-Za-z0-9_]+", "_", f"{ref.name}_{pin}{suffix}").strip("_")
    taken = set(session.scalars(select(Association.name)))
    return next(candidate for candidate in (base, *(f"{base}_{n}" for n in range(2, 1000))) if candidate not in taken)


def create_association(
    model_ref: str, *, workflow: str = "batch_scoring", input_path: str, output_path: str,
    schedule: str | None = None, policy: str = "fail", name: str | None = None,
    options: dict[str, Any] | None = None, settings: Settings | None = None,
) -> AssociationInfo:
    """Store the association (an event records it) and refresh the DAG snapshot."""
    from registry.store import mlflow_client, resolve_version

    settings = settings or get_settings()
    ref = parse_ref(model_ref)
    resolve_version(ref, mlflow_client(settings))  # the model (and alias) must exist now
    if workflow not in WORKFLOWS:
        raise AssociationError(f"unknown workflow {workflow!r}: choose {', '.join(WORKFLOWS)}")
    if policy not in ("fail", "quarantine"):
        raise AssociationError(f"unknown policy {policy!r}: choose fail or quarantine")
    _check_schedule(schedule)
    if name is not None and not _NAME.match(name):
        raise AssociationError(f"invalid association name {name!r}: letters, digits, '_' and '-'")
    with session_scope(settings) as session:
        name = name or _default_name(ref, workflow, session)
        if session.scalars(select(Association).where(Association.name == name)).first():
            raise AssociationError(f"association {name!r} exists already")
        association = Association(
            name=name, model_ref=str(ref), workflow=workflow, schedule=schedule, input_path=input_path,
            output_path=output_path, policy=policy, options=options or {}, created_by=settings.user,
        )
        session.add(association)
        record_event(session, actor=settings.user, action="associated", model_name=ref.name,
                     model_version=ref.version,
                     details={"association": name, "workflow": workflow, "schedule": schedule})
        session.flush()
        info = AssociationInfo.model_validate(association)
        _write_snapshot(session, settings)
    return info


def list_associations(model_name: str | None = None, settings: Settings | None = None) -> list[AssociationInfo]:
    with session_scope(settings or get_settings()) as session:
        return _all(session, model_name)


def _all(session, model_name: str | None = None) -> list[AssociationInfo]:
    rows = session.scalars(select(Association).order_by(Association.name))
    found = [AssociationInfo.model_validate(row) for row in rows]
    return [a for a in found if model_name is None or parse_ref(a.model_ref).name == model_name]


def remove_association(name: str, settings: Settings | None = None) -> AssociationInfo:
    settings = settings or get_settings()
    with session_scope(settings) as session:
        association = session.scalars(select(Association).where(Association.name == name)).first()
        if association is None:
            raise ModelNotFoundError(f"no association named {name!r}")
        info = AssociationInfo.model_validate(association)
        session.delete(association)
        ref = parse_ref(info.model_ref)
        record_event(session, actor=settings.user, action="dissociated", model_name=ref.name,
                     model_version=ref.version, details={"association": name})
        session.flush()
        _write_snapshot(session, settings)
    return info


def _write_snapshot(session, settings: Settings) -> Path:
    entries = [a.model_dump(mode="json") | {"dag_id": a.dag_id} for a in _all(session) if a.enabled]
    return write_atomic(snapshot_path(settings), json.dumps({"associations": entries}, indent=2).encode())


def export_snapshot(settings: Settings | None = None) -> Path:
    """Rewrite the snapshot from the database (after a restore, or for a new DAG folder)."""
    settings = settings or get_settings()
    with session_scope(settings) as session:
        return _write_snapshot(session, settings)
