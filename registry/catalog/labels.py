"""What people set on models: aliases that point at versions, and versions' descriptions.

Each change is recorded as an event with its actor; the event is rolled back if MLflow refuses."""

from __future__ import annotations

from pydantic import BaseModel

from registry.catalog.reads import VersionDetail, show_version
from registry.errors import ModelNotFoundError
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.refs import ModelRef, check_alias, parse_ref
from registry.settings import Settings, get_settings
from registry.store import mlflow_client, require_registered, resolve_version


def set_alias(ref: str, alias: str, settings: Settings | None = None, *, actor: str | None = None) -> VersionDetail:
    """Point ``alias`` at the version ``ref`` means now, and record who moved it from where."""
    settings = settings or get_settings()
    return show_version(move_alias(ref, alias, settings, actor=actor), settings)


def move_alias(ref: str, alias: str, settings: Settings, *, actor: str | None = None) -> ModelRef:
    """``set_alias`` without the version's details to show (a deploy's promote needs none)."""
    model_ref = parse_ref(ref)
    check_alias(alias)
    client = mlflow_client(settings)
    version = resolve_version(model_ref, client)
    previous = client.get_registered_model(model_ref.name).aliases.get(alias)
    with session_scope(settings) as session:
        record_event(
            session, actor=actor or settings.user, action="alias_set", model_name=model_ref.name,
            model_version=int(version.version),
            details={"alias": alias, "previous_version": int(previous) if previous else None},
        )
        client.set_registered_model_alias(model_ref.name, alias, version.version)
    return ModelRef(model_ref.name, int(version.version))


class AliasRemoved(BaseModel):
    """An alias taken off a model, and the version it pointed at."""

    name: str
    alias: str
    version: int


def remove_alias(name: str, alias: str, settings: Settings, *, actor: str,
                 reason: str | None = None) -> AliasRemoved:
    """Take ``alias`` off model ``name`` (its versions stay), and record who did it and why."""
    check_alias(alias)
    client = mlflow_client(settings)
    require_registered(client, name)
    version = (client.get_registered_model(name).aliases or {}).get(alias)
    if version is None:
        raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}", field="alias")
    with session_scope(settings) as session:
        record_event(session, actor=actor, action="alias_removed", model_name=name, model_version=int(version),
                     details={"alias": alias, **({"reason": reason} if reason else {})})
        client.delete_registered_model_alias(name, alias)
    return AliasRemoved(name=name, alias=alias, version=int(version))


def set_description(ref: str, text: str, settings: Settings | None = None, *,
                    actor: str | None = None) -> VersionDetail:
    """The user's description of a version; kept in MLflow, so it survives ModelDoc rebuilds."""
    settings = settings or get_settings()
    model_ref = parse_ref(ref)
    client = mlflow_client(settings)
    version = resolve_version(model_ref, client)
    with session_scope(settings) as session:
        record_event(
            session, actor=actor or settings.user, action="description_set", model_name=model_ref.name,
            model_version=int(version.version), details={"length": len(text)},
        )
        client.update_model_version(model_ref.name, version.version, description=text)
    return show_version(ModelRef(model_ref.name, int(version.version)), settings)
