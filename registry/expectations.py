"""Extra Great Expectations expectations a user attaches to a model's input.

Batch scoring validates every input against the expectations derived from the model's signature
and training profile, plus these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from registry.errors import ModelNotFoundError, ModelyardError
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import ModelExpectation
from registry.settings import Settings, get_settings


class ExpectationInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    model_name: str
    expectation_type: str
    kwargs: dict[str, Any]
    created_at: datetime
    created_by: str

    @property
    def config(self) -> dict[str, Any]:
        return {"type": self.expectation_type, "kwargs": self.kwargs}


def check_expectation(expectation_type: str, kwargs: dict[str, Any]) -> None:
    """Build it with Great Expectations now, so a typo fails here and not in a nightly run."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    from pydantic.v1 import ValidationError  # GX 1.x models are pydantic v1

    try:
        ExpectationConfiguration(type=expectation_type, kwargs=kwargs).to_domain_obj()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ModelyardError(f"invalid expectation {expectation_type}: {problems}") from None
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelyardError(f"invalid expectation {expectation_type}: {reason}") from error


def attach_expectation(
    model_ref: str, expectation_type: str, kwargs: dict[str, Any], settings: Settings | None = None, *,
    actor: str | None = None,
) -> ExpectationInfo:
    """Attach to the model ``model_ref`` names (``NAME``, ``NAME/VERSION`` or ``NAME@ALIAS``):
    expectations hold for every version, as batch scoring looks them up by the model's name.
    A reference that resolves to no registered version is refused."""
    from registry.refs import parse_ref
    from registry.store import mlflow_client, resolve_version

    settings = settings or get_settings()
    model_name = resolve_version(parse_ref(model_ref), mlflow_client(settings)).name
    check_expectation(expectation_type, kwargs)
    with session_scope(settings) as session:
        row = ModelExpectation(model_name=model_name, expectation_type=expectation_type, kwargs=kwargs,
                               created_by=actor or settings.user)
        session.add(row)
        session.flush()
        record_event(session, actor=actor or settings.user, action="expectation_attached", model_name=model_name,
                     details={"id": row.id, "type": expectation_type, "kwargs": kwargs})
        return ExpectationInfo.model_validate(row)


def list_expectations(model_name: str, settings: Settings | None = None) -> list[ExpectationInfo]:
    """The expectations of the model named ``model_name`` (a name, not a reference)."""
    with session_scope(settings or get_settings()) as session:
        rows = session.scalars(select(ModelExpectation).where(ModelExpectation.model_name == model_name)
                               .order_by(ModelExpectation.id))
        return [ExpectationInfo.model_validate(row) for row in rows]


def remove_expectation(expectation_id: int, settings: Settings | None = None, *,
                       actor: str | None = None) -> ExpectationInfo:
    settings = settings or get_settings()
    with session_scope(settings) as session:
        row = session.get(ModelExpectation, expectation_id)
        if row is None:
            raise ModelNotFoundError(f"no expectation with id {expectation_id}")
        info = ExpectationInfo.model_validate(row)
        session.delete(row)
        record_event(session, actor=actor or settings.user, action="expectation_removed", model_name=info.model_name,
                     details={"id": expectation_id, "type": info.expectation_type})
        return info
