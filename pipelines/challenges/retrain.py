"""Retraining that feeds challengers: a model trained here is fitted again, by its policy, on the
data its policy names; the new version is registered with its metrics and, when it clears the
policy's validation floor, put into a shadow challenge against the champion by itself.

Each step is an event in the model's history (``retrained``, ``retrain_below_floor``,
``retrain_skipped``, then the challenge's own), so the loop reads end to end on the model's page.
An imported model is never refitted: its drift alert stands alone.
"""

from __future__ import annotations

import logging

import pandas as pd
from pydantic import BaseModel

from registry.errors import InvalidFieldError
from registry.retraining import Policy, mark_retrained, policy_for
from registry.settings import Settings

ACTOR = "retraining"
logger = logging.getLogger(__name__)


class RetrainOutcome(BaseModel):
    model_name: str
    trigger: str  # what asked for it, in a sentence
    version: int | None = None  # the version registered, if one was
    metrics: dict[str, float] = {}
    challenge_id: int | None = None
    skipped: str | None = None  # why it stopped short of a challenge


def retrain(settings: Settings, name: str, *, trigger: str, actor: str = ACTOR) -> RetrainOutcome:
    """Refit the champion's estimator on the policy's data, register it, and challenge with it."""
    info = policy_for(settings, name)
    if info is None or not info.policy.enabled:
        return _skip(settings, name, trigger, "no enabled retraining policy", actor)
    from registry.challenges import active_challenge

    current = active_challenge(name, settings=settings)
    if current is not None:  # one challenger at a time: a drift alert each hour must not train a version each hour
        return _skip(settings, name, trigger, f"challenge {current.id} is still active", actor)
    base_version = _base_version(settings, name)
    native, card = _champion_model(settings, name, base_version)
    if card.origin != "trained":
        return _skip(settings, name, trigger, f"version {base_version} was imported ({card.origin}): an imported "
                                              "model is alerted on, never retrained here", actor)
    frame = read_training_data(info.policy.data_path, settings)
    registered = _fit_and_register(settings, name, native, card, frame, info.policy, trigger)
    mark_retrained(settings, name)
    outcome = RetrainOutcome(model_name=name, trigger=trigger, version=registered.version, metrics=registered.metrics)
    _event(settings, name, "retrained", actor, registered.version, trigger=trigger, base_version=base_version,
           metrics=registered.metrics, data_path=info.policy.data_path)
    short = below_floor(registered.metrics, info.policy)
    if short:
        _event(settings, name, "retrain_below_floor", actor, registered.version, reasons=short)
        return outcome.model_copy(update={"skipped": "; ".join(short)})
    return _challenge(settings, name, outcome, info.policy, actor)


def retrain_if_drifted(settings: Settings, name: str, drifted: list[str], psi_line: float, *,
                       actor: str = ACTOR) -> RetrainOutcome | None:
    """A monitoring pass's hook: retrain when its policy asks for it on this much drift. A failure
    is an event (``retrain_failed``), never a failed monitoring pass."""
    info = policy_for(settings, name)
    if info is None or not info.policy.enabled or not info.policy.on_drift \
            or len(drifted) < info.policy.min_drifted_features:
        return None
    trigger = (f"drift: PSI >= {psi_line:g} on {len(drifted)} features ({', '.join(drifted)}), the policy's "
               f"bound is {info.policy.min_drifted_features}")
    return _guarded(settings, name, trigger, actor)


def retrain_due(settings: Settings, *, actor: str = ACTOR) -> list[RetrainOutcome]:
    """Retrain each model whose policy's schedule (``every_hours``) has come round."""
    from registry.retraining import due_on_schedule

    return [_guarded(settings, name, "schedule", actor) for name in due_on_schedule(settings)]


def _guarded(settings: Settings, name: str, trigger: str, actor: str) -> RetrainOutcome:
    from registry.errors import ModelyardError

    try:
        return retrain(settings, name, trigger=trigger, actor=actor)
    except (ModelyardError, OSError, ValueError) as error:
        reason = f"{type(error).__name__}: {error}"
        _event(settings, name, "retrain_failed", actor, None, trigger=trigger, reason=reason[:2000])
        logger.warning("retraining %s failed: %s", name, reason)
        return RetrainOutcome(model_name=name, trigger=trigger, skipped=f"failed: {reason}")


def below_floor(metrics: dict[str, float], policy: Policy) -> list[str]:
    """Each floor the new version's validation metrics miss, in a sentence."""
    from registry.evaluation import higher_is_better

    missed = []
    for metric, floor in policy.validation_floor.items():
        key = metric if metric.startswith("validation_") else f"validation_{metric}"
        value = metrics.get(key)
        if value is None:
            missed.append(f"{key} was not measured (floor {floor:g})")
        elif (value < floor) if higher_is_better(key) else (value > floor):
            missed.append(f"{key} {value:.4g} misses the floor {floor:g}")
    return missed


def read_training_data(path: str, settings: Settings) -> pd.DataFrame:
    """A CSV or Parquet file (or a folder of Parquet), local or on S3."""
    from pipelines.scoring.io import storage_options

    options = storage_options(path, settings) or None
    if path.lower().endswith(".csv"):
        return pd.read_csv(path, storage_options=options)
    return pd.read_parquet(path, storage_options=options)


def _fit_and_register(settings: Settings, name: str, native, card, frame: pd.DataFrame, policy: Policy,
                      trigger: str):
    from sklearn.base import clone

    from pipelines.training import split
    from registry.registration import Dataset, ModelPackage, register_package

    missing = [column for column in [*card.feature_names, card.target] if column not in frame.columns]
    if missing:
        raise InvalidFieldError(f"the retraining data {policy.data_path} lacks the column(s) {', '.join(missing)}",
                                field="data_path")
    features, target = frame[card.feature_names], frame[card.target]
    classification = card.task == "classification"
    x_train, x_valid, y_train, y_valid = split(features, target, stratify=classification)
    estimator = clone(native).fit(x_train, y_train)
    steps = [f"read {len(frame)} rows from {policy.data_path}", "split 75/25 (as the first training)",
             f"refit {type(estimator).__name__} with the champion's parameters ({trigger})"]
    package = ModelPackage(
        name=name, native=estimator, card=card.model_copy(update={"pipeline_steps": steps}),
        params={"estimator": type(estimator).__name__, **estimator.get_params()},
        training=Dataset("retraining-train", x_train, y_train, policy.data_path),
        validation=Dataset("retraining-validation", x_valid, y_valid, policy.data_path),
        description=f"Retrained by its policy: {trigger}",
        trusted_types=_trusted(estimator))
    return register_package(package, settings=settings, actor=ACTOR)


def _challenge(settings: Settings, name: str, outcome: RetrainOutcome, policy: Policy, actor: str) -> RetrainOutcome:
    from bento_services.challenges import start_challenge
    from registry.challenges import active_challenge
    from registry.deployments import running

    if not running(name, settings=settings):
        return _skip(settings, name, outcome.trigger, "no running deployment to challenge", actor, outcome)
    current = active_challenge(name, settings=settings)
    if current is not None:
        return _skip(settings, name, outcome.trigger, f"challenge {current.id} is still active", actor, outcome)
    challenge = start_challenge(name, outcome.version, mode="shadow", percent=policy.percent, settings=settings,
                                actor=actor)
    return outcome.model_copy(update={"challenge_id": challenge.id})


def _base_version(settings: Settings, name: str) -> int:
    """The version serving now (else the newest): the one whose estimator is refitted."""
    from registry.deployments import running
    from registry.store import latest_version, mlflow_client

    live = running(name, settings=settings)
    return live[0].model_version if live else int(latest_version(mlflow_client(settings), name).version)


def _champion_model(settings: Settings, name: str, version: int):
    import tempfile
    from pathlib import Path

    from registry.card import ModelCard
    from registry.catalog import download_model_dir
    from registry.flavors import load_native

    with tempfile.TemporaryDirectory(prefix="modelyard-retrain-") as scratch:
        model_dir = download_model_dir(f"{name}/{version}", Path(scratch), settings)
        card = ModelCard.read(model_dir)
        return load_native(model_dir, card.flavor), card


def _trusted(estimator) -> list[str]:
    import skops.io

    return skops.io.get_untrusted_types(data=skops.io.dumps(estimator))


def _skip(settings: Settings, name: str, trigger: str, why: str, actor: str,
          outcome: RetrainOutcome | None = None) -> RetrainOutcome:
    _event(settings, name, "retrain_skipped", actor, outcome.version if outcome else None, trigger=trigger, reason=why)
    return (outcome or RetrainOutcome(model_name=name, trigger=trigger)).model_copy(update={"skipped": why})


def _event(settings: Settings, name: str, action: str, actor: str, version: int | None, **details) -> None:
    from registry.metadata.db import session_scope
    from registry.metadata.events import record_event

    with session_scope(settings) as session:
        record_event(session, actor=actor, action=action, model_name=name, model_version=version, details=details)
