"""Retraining policies: when a model trained here retrains by itself, on which data, and the
floor its new version must clear before it is put into a shadow challenge.

The retraining itself is ``pipelines.challenges.retrain``'s; the monitoring pass (a drift alert)
and the hourly monitoring DAG (a schedule) trigger it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from registry.errors import invalid_settings
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import RetrainingPolicy
from registry.settings import Settings


class Policy(BaseModel):
    """A model's retraining policy (the defaults are the README's)."""

    model_config = ConfigDict(extra="forbid")

    data_path: str = Field(description="CSV or Parquet (a file or folder, local or s3://) with the model's "
                                       "features and its target column")
    on_drift: bool = Field(True, description="retrain when a monitoring pass finds drift on min_drifted_features")
    min_drifted_features: int = Field(3, ge=1, description="features whose PSI is at or above the psi threshold")
    every_hours: float | None = Field(None, gt=0, description="also retrain on this schedule")
    validation_floor: dict[str, float] = Field(default_factory=dict, description="validation metrics the new "
                                               "version must reach (lower-is-better ones: must not exceed)")
    percent: float = Field(100.0, gt=0, le=100, description="share of requests its shadow challenge sees")
    enabled: bool = True


class PolicyInfo(BaseModel):
    model_name: str
    policy: Policy
    last_retrained_at: datetime | None
    updated_by: str


def policy_for(settings: Settings, name: str) -> PolicyInfo | None:
    with session_scope(settings) as session:
        row = session.get(RetrainingPolicy, name)
        return _info(row) if row else None


def set_policy(settings: Settings, name: str, changes: dict, *, actor: str) -> PolicyInfo:
    """Create or change a model's policy, validated whole (a bad value names its field)."""
    from registry.data_paths import check_data_path

    with session_scope(settings) as session:
        row = session.get(RetrainingPolicy, name)
        try:
            policy = Policy.model_validate({**(row.values if row else {}), **changes})
        except ValidationError as error:
            raise invalid_settings(error, "retraining policy") from error
        policy.data_path = check_data_path(policy.data_path, field="data_path", settings=settings)
        if row is None:
            row = RetrainingPolicy(model_name=name, updated_by=actor)
            session.add(row)
        row.values, row.updated_by = policy.model_dump(mode="json"), actor
        record_event(session, actor=actor, action="retraining_policy_set", model_name=name, details=changes)
        session.flush()
        return _info(row)


def mark_retrained(settings: Settings, name: str, at: datetime | None = None) -> None:
    with session_scope(settings) as session:
        row = session.get(RetrainingPolicy, name)
        if row is not None:
            row.last_retrained_at = at or datetime.now(timezone.utc)


def due_on_schedule(settings: Settings, now: datetime | None = None) -> list[str]:
    """The models whose ``every_hours`` has passed since they were last retrained."""
    from sqlalchemy import select

    now = now or datetime.now(timezone.utc)
    with session_scope(settings) as session:
        infos = [_info(row) for row in session.scalars(select(RetrainingPolicy))]
    return [info.model_name for info in infos if info.policy.enabled and info.policy.every_hours
            and (info.last_retrained_at is None
                 or now - info.last_retrained_at >= timedelta(hours=info.policy.every_hours))]


def _info(row: RetrainingPolicy) -> PolicyInfo:
    return PolicyInfo(model_name=row.model_name, policy=Policy.model_validate(row.values),
                      last_retrained_at=row.last_retrained_at, updated_by=row.updated_by)
