"""The one model version a service process serves: where it is, what it is, how it predicts.

The service reads ``MODELYARD_SERVE_MODEL_DIR`` (a local MLflow model directory written by the
registry, with its model card) and the name and version it was registered under. A deploy step
points these at a model imported into the Bento store; tests point them at a download.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bento_services.payloads import NUMERIC_TYPES, Feature, PayloadError
from registry.predictors import Predictor, load_predictor

logger = logging.getLogger(__name__)


class ServeSettings(BaseSettings):
    """What to serve, read from the environment when the service starts (never at import)."""

    model_config = SettingsConfigDict(env_prefix="MODELYARD_SERVE_", extra="ignore", protected_namespaces=())

    model_dir: Path | None = Field(None, description="Local MLflow model directory with a Modelyard model card.")
    model_tag: str | None = Field(None, description="Or the model's tag in the Bento model store (a deploy's bento).")
    model_name: str = Field(description="Registered model name, reported with every prediction.")
    model_version: int = Field(description="Registered version number, reported with every prediction.")
    max_body_bytes: int = Field(16 * 1024 * 1024, gt=0, description="Larger request bodies get 413.")
    request_log_dir: Path | None = Field(None, description="Where request/response Parquet logs go; unset = off.")
    request_log_flush_seconds: float = Field(30.0, gt=0, description="Longest a logged row waits in memory.")


@dataclass
class ServedModel:
    name: str
    version: int
    predictor: Predictor
    features: list[Feature]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]

    @classmethod
    def load(cls, settings: ServeSettings) -> "ServedModel":
        """Load the predictor once and read the signature that input validation follows."""
        from mlflow.models import Model

        model_dir = settings.model_dir or _bento_model_path(settings.model_tag)
        predictor = load_predictor(model_dir)
        signature = Model.load(str(model_dir)).signature
        inputs = _schema(signature.inputs if signature else None)
        outputs = _schema(signature.outputs if signature else None)
        return cls(settings.model_name, settings.model_version, predictor,
                   _features(predictor.card.feature_names, inputs), inputs, outputs)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``prediction`` plus ``probability_<class>`` columns, one row per input row."""
        return self.predictor.predict(frame)

    @property
    def batchable(self) -> bool:
        """Only all-numeric inputs travel as the float matrix that adaptive batching needs."""
        return all(feature.type in NUMERIC_TYPES for feature in self.features)

    def output_columns(self) -> list[str]:
        return ["prediction", *self.predictor.card.probability_columns]

    def predict_rows(self, rows: list[list[float]]) -> list[list[float]]:
        """``predict`` on rows of floats in feature order, answered as rows of floats (a label
        becomes its class index): the shape BentoML's adaptive batching can concatenate.

        One caller's row must not fail the other requests batched with it: a row of the wrong
        width or with a non-finite value is answered with NaNs, and when the model raises on the
        batch, each row is tried alone and those it still raises on are answered with NaNs."""
        width = len(self.features)
        answer = np.full((len(rows), len(self.output_columns())), np.nan)
        good = [index for index, row in enumerate(rows) if len(row) == width and all(map(math.isfinite, row))]
        try:
            if good:
                answer[good] = self._predict_codes([rows[index] for index in good])
        except Exception:
            if len(good) == 1:
                logger.exception("the model raised on a row; it is answered with NaNs")
                return answer.tolist()
            for index in good:
                answer[index] = self.predict_rows([rows[index]])[0]
        return answer.tolist()

    def _predict_codes(self, rows: list[list[float]]) -> np.ndarray:
        frame = pd.DataFrame(rows, columns=[feature.name for feature in self.features])
        frame = frame.astype({feature.name: NUMERIC_TYPES[feature.type] for feature in self.features})
        result = self.predict(frame)
        classes = self.predictor.card.classes
        if classes is not None:
            codes = pd.Categorical(result["prediction"], categories=classes).codes
            if (codes < 0).any():
                raise ValueError(f"the model predicted a label outside its classes {classes}")
            result["prediction"] = codes
        return result.to_numpy(dtype="float64")

    def rows_for_batch(self, features: pd.DataFrame) -> list[list[float]]:
        return features[[feature.name for feature in self.features]].to_numpy(dtype="float64").tolist()

    def from_rows(self, rows: list[list[float]]) -> pd.DataFrame:
        """The frame ``predict`` would have returned, from ``predict_rows``' answer."""
        result = pd.DataFrame(rows, columns=self.output_columns())
        failed = result.index[result["prediction"].isna()].tolist()
        if failed:
            raise PayloadError(f"the model could not score row(s) {failed[:10]} (it raised on them; the "
                               "service log has the error)", [{"field": "body", "row": row, "problem": "model error"}
                                                             for row in failed[:50]], status_code=422)
        classes = self.predictor.card.classes
        if classes is not None:
            result["prediction"] = pd.Series(np.asarray(classes)[result["prediction"].to_numpy().astype(int)])
        return result

    def metadata(self) -> dict[str, Any]:
        card = self.predictor.card
        return {
            "name": self.name, "version": self.version, "flavor": card.flavor, "task": card.task,
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


def jsonable_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Records of plain Python scalars (pandas unboxes numpy ones), floats kept exact."""
    return frame.to_dict(orient="records")
