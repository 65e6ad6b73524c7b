"""Associations: a model plugged into a scoring workflow, with its schedule and data locations.

The database is the source of truth; every change also rewrites a JSON snapshot that the DAG
files read at parse time (DAG files never query a database).
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import select

from registry.errors import ConflictError, InvalidFieldError, ModelNotFoundError, ModelyardError
from registry.files import write_atomic
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import Association
from registry.refs import parse_ref
from registry.scoring_options import BATCH_SCORING_DAG, FORMATS, ScoringPolicy, check_policy
from registry.settings import Settings, get_settings

WORKFLOWS = (BATCH_SCORING_DAG,)
SNAPSHOT_ENV = "MODELYARD_ASSOCIATIONS_SNAPSHOT"
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
_PRESETS = {"@once", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@continuous"}
_PRESET_CRON = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *",
                "@yearly": "0 0 1 1 *"}




class AssociationInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    model_ref: str
    workflow: str
    schedule: str | None
    input_path: str
    output_path: str
    policy: ScoringPolicy
    options: dict[str, Any]
    enabled: bool
    created_at: datetime
    created_by: str

    @computed_field
    @property
    def dag_id(self) -> str:
        return f"score__{self.name}"

    @computed_field
    @property
    def airflow_url(self) -> str:
        """Its DAG's page in the Airflow UI, relative to the UI's base URL."""
        return f"dags/{self.dag_id}"

    @computed_field
    @property
    def next_run(self) -> datetime | None:
        """When the scheduler starts it next (UTC); None when it runs on demand."""
        upcoming = next_runs(self.schedule, 1)
        return upcoming[0] if upcoming else None


def snapshot_path(settings: Settings) -> Path:
    """Where DAG files find the associations: ``$MODELYARD_ASSOCIATIONS_SNAPSHOT`` or the home."""
    return Path(os.environ.get(SNAPSHOT_ENV) or settings.home / "associations.json")


def check_schedule(schedule: str | None) -> str | None:
    """A cron expression or an Airflow preset; None (or blank) means on demand."""
    if schedule is None or not schedule.strip():
        return None
    schedule = schedule.strip()
    if schedule in _PRESETS:
        return schedule
    from croniter import croniter

    if not croniter.is_valid(schedule):
        raise InvalidFieldError(f"invalid schedule {schedule!r}: use a cron expression (minute hour day month "
                                "weekday) or a preset like @daily", field="schedule")
    return schedule


def next_runs(schedule: str | None, count: int = 3, after: datetime | None = None) -> list[datetime]:
    """The next ``count`` times (UTC) a schedule fires; none for on demand, ``@once`` or ``@continuous``."""
    from croniter import croniter

    schedule = check_schedule(schedule)
    cron = _PRESET_CRON.get(schedule, schedule) if schedule else None
    if cron is None or cron.startswith("@"):
        return []
    iterator = croniter(cron, after or datetime.now(timezone.utc))
    return [iterator.get_next(datetime) for _ in range(count)]


def _default_name(ref, workflow: str, session) -> str:
    pin = ref.alias or (f"v{ref.version}" if ref.version else "latest")
    suffix = "" if workflow == BATCH_SCORING_DAG else f"_{workflow}"
    base = re.sub(r"[^A-Za-z0-9_]+", "_", f"{ref.name}_{pin}{suffix}").strip("_")
    taken = set(session.scalars(select(Association.name)))
    return next(candidate for candidate in (base, *(f"{base}_{n}" for n in range(2, 1000))) if candidate not in taken)


def create_association(
    model_ref: str, *, workflow: str = BATCH_SCORING_DAG, input_path: str, output_path: str,
    schedule: str | None = None, policy: str = "fail", name: str | None = None, output_format: str = "parquet",
    key_columns: list[str] | None = None, settings: Settings | None = None, actor: str | None = None,
) -> AssociationInfo:
    """Store the association (an event records it) and refresh the DAG snapshot.

    Every input is checked first, and an error names the one that is wrong: the model must
    resolve now, the paths lie under the data roots, the schedule parse."""
    from registry.data_paths import check_data_path
    from registry.store import mlflow_client, resolve_version

    settings = settings or get_settings()
    try:
        ref = parse_ref(model_ref)
        resolve_version(ref, mlflow_client(settings))  # the model (and alias) must exist now
    except ModelyardError as error:
        error.field = "model_ref"
        raise
    if workflow not in WORKFLOWS:
        raise InvalidFieldError(f"unknown workflow {workflow!r}: choose {', '.join(WORKFLOWS)}", field="workflow")
    check_policy(policy)
    if output_format not in FORMATS:
        raise InvalidFieldError(f"unknown output format {output_format!r}: choose {' or '.join(FORMATS)}",
                                field="output_format")
    if key_columns is not None and (not all(isinstance(c, str) and c.strip() for c in key_columns)):
        raise InvalidFieldError("key columns must be non-empty column names", field="key_columns")
    schedule = check_schedule(schedule)
    if name is not None and not _NAME.match(name):
        raise InvalidFieldError(f"invalid association name {name!r}: letters, digits, '_' and '-'", field="name")
    input_path = check_data_path(input_path, field="input_path", settings=settings)
    output_path = check_data_path(output_path, field="output_path", settings=settings)
    options = {"output_format": output_format, **({"key_columns": [c.strip() for c in key_columns]}
                                                    if key_columns else {})}
    actor = actor or settings.user
    with session_scope(settings) as session:
        name = name or _default_name(ref, workflow, session)
        if session.scalars(select(Association).where(Association.name == name)).first():
            raise ConflictError(f"association {name!r} exists already", field="name")
        association = Association(
            name=name, model_ref=str(ref), workflow=workflow, schedule=schedule, input_path=input_path,
            output_path=output_path, policy=policy, options=options, created_by=actor,
        )
        session.add(association)
        record_event(session, actor=actor, action="associated", model_name=ref.name,
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


def remove_association(name: str, settings: Settings | None = None, *, actor: str | None = None) -> AssociationInfo:
    settings = settings or get_settings()
    with session_scope(settings) as session:
        association = session.scalars(select(Association).where(Association.name == name)).first()
        if association is None:
            raise ModelNotFoundError(f"no association named {name!r}", field="name")
        info = AssociationInfo.model_validate(association)
        session.delete(association)
        ref = parse_ref(info.model_ref)
        record_event(session, actor=actor or settings.user, action="dissociated", model_name=ref.name,
                     model_version=ref.version, details={"association": name})
        session.flush()
        _write_snapshot(session, settings)
    return info


def _write_snapshot(session, settings: Settings) -> Path:
    entries = [a.model_dump(mode="json", exclude={"next_run", "airflow_url"}) for a in _all(session) if a.enabled]
    return write_atomic(snapshot_path(settings), json.dumps({"associations": entries}, indent=2).encode())


def export_snapshot(settings: Settings | None = None) -> Path:
    """Rewrite the snapshot from the database (after a restore, or for a new DAG folder)."""
    settings = settings or get_settings()
    with session_scope(settings) as session:
        return _write_snapshot(session, settings)
