"""The one model version a service process serves: where it is, what it is, how it predicts.

The service reads ``MODELYARD_SERVE_MODEL_TAG`` (the version imported into the Bento model store:
a deployment) or ``MODELYARD_SERVE_MODEL_DIR`` (a local MLflow model directory with its model card:
tests) and the name and version the model was registered under.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bento_services.payloads import Feature
from bento_services.rows import Matrix, Predictions
from registry.predictors import Predictor, load_predictor


class ServeSettings(BaseSettings):
    """What to serve, read from the environment when the service starts (never at import)."""

    model_config = SettingsConfigDict(env_prefix="MODELYARD_SERVE_", extra="ignore", protected_namespaces=())

    model_dir: Path | None = Field(None, description="Local MLflow model directory with a Modelyard model card.")
    model_tag: str | None = Field(None, description="Or the model's tag in the Bento model store (a deploy's bento).")
    model_name: str | None = Field(None, description="Registered model name, reported with every prediction.")
    model_version: int | None = Field(None, description="Registered version number, reported with every prediction.")
    spare: bool = Field(False, description="Start warm and serve nothing until a deploy loads a version "
                                           "(bento_services.spares).")
    admin_token: str | None = Field(None, description="What a spare's load and alias routes require in "
                                                      "x-modelyard-admin-token; unset: they are refused.")
    max_body_bytes: int = Field(16 * 1024 * 1024, gt=0, description="Larger request bodies get 413.")
    replica: str | None = Field(None, description="This replica's name in the request log (its port); the PID when unset.")
    request_log_flush_seconds: float = Field(5.0, gt=0, description="Longest a logged row waits in memory.")
    request_log_flush_rows: int = Field(10_000, gt=0, description="Rows that make the request log flush sooner.")
    snapshot: Path | None = Field(None, description="The build's pickled model (bento_services.snapshot); "
                                                    "unset or stale = load the MLflow model.")


@dataclass
class ServedModel:
    name: str
    version: int
    predictor: Predictor
    features: list[Feature]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    loaded_from: str = "mlflow"  # or "snapshot" (the build's, bento_services.snapshot)
    runtime: str = "native"  # or the compiled runtime the build chose (registry.compiling)

    @classmethod
    def load(cls, settings: ServeSettings) -> "ServedModel":
        """The version to serve: from the build's snapshot when one is given (or the bento has one)
        and it matches the model (seconds), else loaded through MLflow (``bento_services.snapshot``
        says why)."""
        from dataclasses import replace

        from bento_services.snapshot import read_snapshot, snapshot_in

        if settings.model_name is None or settings.model_version is None:
            raise ValueError("set MODELYARD_SERVE_MODEL_NAME and MODELYARD_SERVE_MODEL_VERSION to the version served")
        model_dir = settings.model_dir or _bento_model_path(settings.model_tag)
        snapshot = settings.snapshot or snapshot_in(model_dir)  # a bento started away from its version's folder
        served = read_snapshot(snapshot, model_dir) if snapshot else None
        if served is None:
            return cls.from_model_dir(model_dir, settings.model_name, settings.model_version)
        return replace(served, name=settings.model_name, version=settings.model_version, loaded_from="snapshot")

    @classmethod
    def from_model_dir(cls, model_dir: Path, name: str, version: int, predictor: Predictor | None = None,
                       mlflow_model=None, *, runtime: str = "native") -> "ServedModel":
        """Load the predictor (unless given: a compiled one is named by ``runtime``) and read the
        signature that input validation follows."""
        from mlflow.models import Model

        predictor = predictor or load_predictor(model_dir)
        signature = (mlflow_model or Model.load(str(model_dir))).signature
        inputs = _schema(signature.inputs if signature else None)
        outputs = _schema(signature.outputs if signature else None)
        return cls(name, version, predictor, _features(predictor.card.feature_names, inputs), inputs, outputs,
                   runtime=runtime)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``prediction`` plus ``probability_<class>`` columns, one row per input row."""
        return self.predictor.predict(frame)

    def score(self, features: Matrix | pd.DataFrame) -> Predictions:
        """The request path's predict: a float matrix reaches a predictor that takes one as it is."""
        values = features.values if isinstance(features, Matrix) else features
        labels, probabilities = self.predictor.predict_arrays(values)
        return Predictions(np.asarray(labels), probabilities, self.output_columns())

    def output_columns(self) -> list[str]:
        return ["prediction", *self.predictor.card.probability_columns]

    def metadata(self) -> dict[str, Any]:
        card = self.predictor.card
        return {
            "name": self.name, "version": self.version, "flavor": card.flavor, "runtime": self.runtime, "task": card.task,
            "classes": card.classes, "feature_names": card.feature_names,
            "signature": {"inputs": self.inputs, "outputs": self.outputs},
        }


def _bento_model_path(tag: str | None) -> Path:
    import bentoml

    if not tag:
        raise ValueError("set MODELYARD_SERVE_MODEL_DIR or MODELYARD_SERVE_MODEL_TAG to the model to serve")
    return Path(bentoml.models.get(tag).path)


def _schema(schema) -> list[dict[str, Any]]:
    if schema is None:
        return []
    return [{"name": spec.get("name"), "type": spec.get("type")} for spec in schema.to_dict()]


def _features(names: list[str], inputs: list[dict[str, Any]]) -> list[Feature]:
    """The card fixes the names and order; the signature, when it has one, the types."""
    types = {spec["name"]: spec["type"] for spec in inputs if spec.get("name")}
    return [Feature(name, types.get(name) or "double") for name in names]
