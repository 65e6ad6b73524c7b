"""Registering a model version: all of it, or none of it.

Everything is computed and written to a local folder first (metrics, profile, plots, card);
only then is MLflow touched, and any failure there undoes what was created.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from registry.card import CARD_DIR, ModelCard
from registry.errors import ModelExistsError
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.refs import check_model_name
from registry.settings import Settings, get_settings

log = logging.getLogger(__name__)

PROFILE_FILE = f"{CARD_DIR}/profile.json"
IMPORTANCE_FILE = f"{CARD_DIR}/feature_importance.json"
PREDICTION_PROFILE_FILE = f"{CARD_DIR}/prediction_profile.json"
PLOTS_DIR = f"{CARD_DIR}/plots"
PARITY_SAMPLE_FILE = f"{CARD_DIR}/parity_sample.parquet"  # rows a compiled runtime must answer as the model does
PARITY_SAMPLE_ROWS = 1000


@dataclass
class Dataset:
    """Features (and the target, when known) with a name and where they came from."""

    name: str
    features: pd.DataFrame
    target: pd.Series | None = None
    source: str | None = None


@dataclass
class ModelPackage:
    """A fitted or imported model with everything needed to register it."""

    name: str
    native: Any
    card: ModelCard
    params: dict[str, Any] = field(default_factory=dict)
    training: Dataset | None = None
    validation: Dataset | None = None
    description: str | None = None
    trusted_types: list[str] = field(default_factory=list)


class RegisteredVersion(BaseModel):
    name: str
    version: int
    run_id: str
    model_id: str
    artifact_uri: str
    flavor: str
    task: str
    metrics: dict[str, float]

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"


def _metrics(package: ModelPackage, predictor) -> dict[str, float]:
    from registry.evaluation import evaluate

    metrics = {}
    for prefix, data in (("training", package.training), ("validation", package.validation)):
        if data is not None and data.target is not None:
            for key, value in evaluate(predictor, data.features, data.target).items():
                metrics[f"{prefix}_{key}"] = value
    return metrics


def _importance(package: ModelPackage, predictor) -> dict[str, float] | None:
    from registry.evaluation import native_importance, permutation_importance

    importance = native_importance(package.native, package.card.feature_names)
    data = package.validation
    if importance is None and data is not None and data.target is not None:
        importance = permutation_importance(predictor, data.features, data.target)
    return importance


def _signature(predictor, reference: Dataset | None):
    """From real rows when there are some; else every named feature as a double column."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    names = predictor.card.feature_names
    if reference is None:
        return ModelSignature(inputs=Schema([ColSpec("double", name) for name in names])), None
    example = reference.features[names].head(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return infer_signature(example, predictor.predict(example)), example


def build_model_dir(package: ModelPackage, out: Path) -> dict[str, float]:
    """Write the complete MLflow model directory locally; return its metrics."""
    from registry.evaluation import write_plots
    from registry.flavors import save_native
    from registry.predictors import make_predictor
    from registry.profiling import profile_frame

    predictor = make_predictor(package.native, package.card)
    reference = package.training or package.validation
    signature, example = _signature(predictor, reference)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # MLflow's hint about integer columns
        save_native(
            package.card.flavor, package.native, out,
            signature=signature, input_example=example, trusted_types=package.trusted_types,
        )
    package.card.write(out)
    _write_parity_sample(package.validation or reference, package.card.feature_names, out)
    if reference is not None:
        features = reference.features[package.card.feature_names]
        profile = profile_frame(features, package.card.target)
        (out / PROFILE_FILE).write_text(profile.model_dump_json(indent=2))
    importance = _importance(package, predictor)
    (out / IMPORTANCE_FILE).write_text(json.dumps(importance or {}, indent=2))
    data = package.validation
    if data is not None:
        _write_prediction_profile(predictor, data, out)
    if data is not None and data.target is not None:
        write_plots(predictor, data.features, data.target, importance, out / PLOTS_DIR)
    return _metrics(package, predictor)


def _write_parity_sample(data: Dataset | None, names: list[str], out: Path) -> None:
    """Up to ``PARITY_SAMPLE_ROWS`` validation rows (else training rows), kept with the version:
    a deploy checks a compiled runtime against the model on them (``registry.compiling``)."""
    if data is None or data.features.empty:
        return
    features = data.features[names]
    if len(features) > PARITY_SAMPLE_ROWS:
        features = features.sample(PARITY_SAMPLE_ROWS, random_state=0)
    features.reset_index(drop=True).to_parquet(out / PARITY_SAMPLE_FILE)


def _write_prediction_profile(predictor, data: Dataset, out: Path) -> None:
    """The validation predictions' class mix or value bins: monitoring's reference for prediction drift."""
    from registry.predictors import PREDICTION
    from registry.profiling import profile_predictions

    predictions = predictor.predict(data.features[predictor.card.feature_names])[PREDICTION]
    profile = profile_predictions(predictions, predictor.card.task)
    (out / PREDICTION_PROFILE_FILE).write_text(profile.model_dump_json(indent=2))


def _stamp_lineage(model_dir: Path, run_id: str, model_id: str) -> None:
    from mlflow.models import Model

    model = Model.load(str(model_dir))
    model.run_id = run_id
    model.model_id = model_id
    model.save(str(model_dir / "MLmodel"))


def _dataset_input(data: Dataset, target: str | None, context: str):
    """An MLflow dataset input (name, digest, schema, profile) for one of the package's sets."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag

    frame = data.features.copy()
    if data.target is not None:
        target = target or "target"
        frame[target] = data.target.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # MLflow's hints about integer columns
        dataset = mlflow.data.from_pandas(
            frame, source=data.source, targets=target if data.target is not None else None,
            name=data.name,
        )
        entity = dataset._to_mlflow_entity()
    return DatasetInput(entity, [InputTag("mlflow.data.context", context)])


def _log_datasets(client, run_id: str, package: ModelPackage) -> None:
    inputs = [
        _dataset_input(data, package.card.target, context)
        for context, data in (("training", package.training), ("validation", package.validation))
        if data is not None
    ]
    client.log_inputs(run_id, datasets=inputs)


def _delete_logged_model(client, logged) -> None:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    get_artifact_repository(logged.artifact_location).delete_artifacts()
    client.delete_logged_model(logged.model_id)


def _params(package: ModelPackage) -> dict[str, str]:
    return {key: str(value)[:6000] for key, value in package.params.items()}


class _Undo:
    """What was created in MLflow so far, removed again in reverse on failure."""

    def __init__(self):
        self.steps: list[tuple[str, Any]] = []

    def add(self, description: str, action) -> None:
        self.steps.append((description, action))

    def run(self) -> None:
        for description, action in reversed(self.steps):
            try:
                action()
            except Exception as error:  # keep undoing; the original error is re-raised
                log.error("could not undo %s: %s", description, error)


def _start_run(client, experiment: str, package: ModelPackage, settings: Settings, undo: _Undo) -> str:
    from mlflow.entities import Param

    card = package.card
    run = client.create_run(
        experiment, run_name=f"{package.name}-{card.origin}",
        tags={"modelyard.model": package.name, "modelyard.origin": card.origin,
              "mlflow.user": settings.user},
    )
    run_id = run.info.run_id
    undo.add("run", lambda: client.delete_run(run_id))
    client.log_batch(run_id, params=[Param(k, v) for k, v in _params(package).items()])
    _log_datasets(client, run_id, package)
    return run_id


def _log_model(client, experiment: str, run_id: str, package: ModelPackage, model_dir: Path,
               metrics: dict[str, float], undo: _Undo):
    """Upload the finished model folder as a logged model, with its metrics linked to it."""
    from mlflow.entities import Metric, RunTag

    card = package.card
    logged = client.create_logged_model(
        experiment, name=package.name, source_run_id=run_id, params=_params(package),
        tags={"modelyard.flavor": card.flavor, "modelyard.task": card.task}, model_type=card.task,
    )
    undo.add("logged model", lambda: _delete_logged_model(client, logged))
    _stamp_lineage(model_dir, run_id, logged.model_id)
    client.log_model_artifacts(logged.model_id, str(model_dir))
    client.finalize_logged_model(logged.model_id, "READY")
    timestamp = client.get_run(run_id).info.start_time
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, timestamp, 0, model_id=logged.model_id) for k, v in metrics.items()],
        tags=[RunTag("modelyard.model_id", logged.model_id)],
    )
    return logged


def _create_version(client, package: ModelPackage, run_id: str, logged, settings: Settings,
                    undo: _Undo):
    from registry.store import registered_model_exists

    card, name = package.card, package.name
    if not registered_model_exists(client, name):
        client.create_registered_model(
            name, tags={"modelyard.owner": settings.user}, description=package.description
        )
        undo.add("registered model", lambda: client.delete_registered_model(name))
    version = client.create_model_version(
        name, source=f"models:/{logged.model_id}", run_id=run_id, model_id=logged.model_id,
        description=package.description,
        tags={"modelyard.flavor": card.flavor, "modelyard.task": card.task,
              "modelyard.origin": card.origin},
    )
    undo.add("model version", lambda: client.delete_model_version(name, version.version))
    return version


def register_package(
    package: ModelPackage, *, new_model: bool = False, settings: Settings | None = None, actor: str | None = None,
) -> RegisteredVersion:
    """Register ``package`` as a new version of ``package.name``.

    With ``new_model``, an existing model of that name is an error rather than a new version.
    """
    from registry.store import experiment_id, mlflow_client, registered_model_exists

    settings = settings or get_settings()
    name = check_model_name(package.name)
    client = mlflow_client(settings)
    if new_model and registered_model_exists(client, name):
        raise ModelExistsError(
            f"model {name!r} already exists: choose another name, or import this as a new version of it",
            field="name")
    card = package.card
    with tempfile.TemporaryDirectory(prefix="modelyard-register-") as scratch:
        model_dir = Path(scratch) / "model"
        metrics = build_model_dir(package, model_dir)
        undo = _Undo()
        try:
            with session_scope(settings) as session:
                experiment = experiment_id(client, settings)
                run_id = _start_run(client, experiment, package, settings, undo)
                logged = _log_model(client, experiment, run_id, package, model_dir, metrics, undo)
                version = _create_version(client, package, run_id, logged, settings, undo)
                client.set_terminated(run_id, "FINISHED")
                record_event(
                    session, actor=actor or settings.user,
                    action="imported" if card.origin == "imported" else "registered",
                    model_name=name, model_version=int(version.version),
                    details={"run_id": run_id, "model_id": logged.model_id,
                             "flavor": card.flavor, "source": card.source},
                )
        except BaseException:
            undo.run()
            raise
    return RegisteredVersion(
        name=name, version=int(version.version), run_id=run_id, model_id=logged.model_id,
        artifact_uri=logged.artifact_location, flavor=card.flavor, task=card.task, metrics=metrics,
    )
