"""Challenges as the metadata database keeps them: a challenger version behind a champion's URL,
the rule that may end or promote it by itself, the last evaluation, and how it ended.

Starting, ending and promoting a challenger are ``bento_services.challenges``'s (they move
traffic); comparing the two versions is ``pipelines.challenges``'s. The fronts read these records.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from registry.challenge_modes import MODES, Mode
from registry.errors import InvalidFieldError
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import Challenge
from registry.settings import Settings

ACTIVE = "active"


class Rule(BaseModel):
    """When a challenge ends or promotes by itself; each bound is checked at every evaluation.

    Rollback (a canary only: a shadow challenger answers no client) when the challenger's error
    rate exceeds the champion's by ``max_error_rate_increase`` or its p99 is above
    ``max_p99_ratio`` times the champion's, once it has ``min_requests``. Promotion when, over at
    least ``min_labelled`` labelled requests both versions answered, the challenger's metric beats
    the champion's by more than ``promote_margin`` with the confidence interval clear of zero."""

    model_config = ConfigDict(extra="forbid")

    auto_rollback: bool = True
    auto_promote: bool = True
    max_error_rate_increase: float = Field(0.02, ge=0, le=1)
    max_p99_ratio: float = Field(1.5, gt=0)
    min_requests: int = Field(20, ge=1)
    min_labelled: int = Field(200, ge=2)
    promote_margin: float = Field(0.0, ge=0)
    confidence: float = Field(0.95, gt=0.5, lt=1)


class Decision(BaseModel):
    """What an evaluation concluded: ``promote`` or ``end`` (a rollback), with the numbers behind it."""

    challenge_id: int
    model_name: str
    action: Literal["promote", "end"]
    reason: str  # a sentence with the figures
    figures: dict[str, Any] = {}


class ActiveChallenge(BaseModel):
    """What a model's row says of its challenge: who challenges, how."""

    id: int
    challenger_version: int
    mode: Mode
    percent: float


class ChallengeInfo(BaseModel):
    id: int
    model_name: str
    champion_version: int
    challenger_version: int
    deployment_id: int | None
    mode: Mode
    percent: float
    sticky_header: str | None
    rule: Rule
    status: str
    started_at: datetime
    started_by: str
    ended_at: datetime | None
    ended_by: str | None
    outcome: str | None
    evaluation: dict[str, Any]

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


def rule_from(values: dict[str, Any]) -> Rule:
    """A rule of these bounds over the defaults; a bad bound names itself (``rule min_labelled: ...``)."""
    from pydantic import ValidationError

    from registry.errors import invalid_settings

    try:
        return Rule(**values)
    except ValidationError as error:
        raise invalid_settings(error, "rule", field="rule") from None


def check_challenge_request(mode: str, percent: float, sticky_header: str | None) -> None:
    """The mode, share and stickiness a challenge asks for, each error naming its field."""
    if mode not in MODES:
        raise InvalidFieldError(f"mode must be one of {', '.join(MODES)} (given {mode!r})", field="mode")
    if not 0 < percent <= 100:
        raise InvalidFieldError(f"percent must be above 0 and at most 100 (given {percent!r})", field="percent")
    if sticky_header is not None and (mode != "canary" or not sticky_header.strip()):
        raise InvalidFieldError("sticky_header needs a canary and a header name", field="sticky_header")


def info_of(row: Challenge) -> ChallengeInfo:
    return ChallengeInfo.model_validate({**{column.name: getattr(row, column.name) for column in
                                            Challenge.__table__.columns}, "rule": Rule.model_validate(row.rule)})


def active_challenge(name: str, *, settings: Settings) -> ChallengeInfo | None:
    with session_scope(settings) as session:
        row = session.scalars(select(Challenge).where(Challenge.model_name == name, Challenge.status == ACTIVE)
                              .order_by(Challenge.id.desc())).first()
        return info_of(row) if row else None


def active_challenges(*, settings: Settings) -> list[ChallengeInfo]:
    with session_scope(settings) as session:
        return [info_of(row) for row in session.scalars(select(Challenge).where(Challenge.status == ACTIVE)
                                                        .order_by(Challenge.id))]


def challenges_of(name: str, *, settings: Settings, limit: int = 20) -> list[ChallengeInfo]:
    """The model's challenges, newest first."""
    with session_scope(settings) as session:
        rows = session.scalars(select(Challenge).where(Challenge.model_name == name)
                               .order_by(Challenge.id.desc()).limit(limit))
        return [info_of(row) for row in rows]


def get_challenge(challenge_id: int, *, settings: Settings) -> ChallengeInfo | None:
    with session_scope(settings) as session:
        row = session.get(Challenge, challenge_id)
        return info_of(row) if row else None


def record_started(*, model_name: str, champion_version: int, challenger_version: int, deployment_id: int,
                   mode: str, percent: float, sticky_header: str | None, rule: Rule, actor: str,
                   details: dict[str, Any], settings: Settings) -> ChallengeInfo:
    with session_scope(settings) as session:
        row = Challenge(model_name=model_name, champion_version=champion_version,
                        challenger_version=challenger_version, deployment_id=deployment_id, mode=mode,
                        percent=percent, sticky_header=sticky_header, rule=rule.model_dump(), status=ACTIVE,
                        started_by=actor, evaluation={})
        session.add(row)
        session.flush()
        record_event(session, actor=actor, action="challenge_started", model_name=model_name,
                     model_version=challenger_version,
                     details={"challenge_id": row.id, "champion_version": champion_version, "mode": mode,
                              "percent": percent, "sticky_header": sticky_header, "rule": rule.model_dump(),
                              **details})
        return info_of(row)


def record_ended(challenge_id: int, *, status: Literal["promoted", "ended"], outcome: str, actor: str,
                 figures: dict[str, Any], settings: Settings) -> ChallengeInfo:
    """Close a challenge with why, and an event (``challenge_promoted`` or ``challenge_ended``) with its numbers."""
    with session_scope(settings) as session:
        row = session.get(Challenge, challenge_id)
        row.status, row.outcome, row.ended_by = status, outcome, actor
        row.ended_at = datetime.now(timezone.utc)
        session.flush()
        record_event(session, actor=actor, action=f"challenge_{status}", model_name=row.model_name,
                     model_version=row.challenger_version,
                     details={"challenge_id": row.id, "champion_version": row.champion_version, "mode": row.mode,
                              "reason": outcome, "figures": figures})
        return info_of(row)


def save_evaluation(challenge_id: int, evaluation: dict[str, Any], *, settings: Settings) -> None:
    """Keep the latest comparison and rule check on the challenge (the page and status read it)."""
    with session_scope(settings) as session:
        row = session.get(Challenge, challenge_id)
        if row is not None:
            row.evaluation = evaluation
