"""What a window is measured against: the model version's card, its derived checks (training
ranges, categories and PSI bins, as batch scoring uses them) and its validation predictions."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from pipelines.scoring.checks import Checks, build_checks
from registry.card import CARD_DIR, ModelCard
from registry.profiling import PredictionProfile
from registry.registration import PREDICTION_PROFILE_FILE
from registry.settings import Settings


@dataclass(frozen=True)
class Reference:
    name: str
    version: int
    card: ModelCard
    checks: Checks
    predictions: PredictionProfile | None  # None: registered before prediction profiles existed

    def feature_types(self) -> dict[str, pa.DataType]:
        kinds = {"numeric": pa.float64(), "boolean": pa.bool_(), "categorical": pa.string()}
        return {feature.name: kinds[feature.kind] for feature in self.checks.features}

    def output_types(self) -> dict[str, pa.DataType]:
        if self.card.task == "regression":
            return {"prediction": pa.float64()}
        return {"prediction": pa.string(), **{column: pa.float64() for column in self.card.probability_columns}}


def load_reference(settings: Settings, name: str, version: int) -> Reference:
    """Fetch only the version's MLmodel and card folder (not the model) and derive its checks."""
    import mlflow.artifacts

    from registry.catalog import model_id_of
    from registry.store import mlflow_client

    client = mlflow_client(settings)
    location = client.get_logged_model(model_id_of(client.get_model_version(name, str(version)))).artifact_location
    with tempfile.TemporaryDirectory(prefix="modelyard-monitor-") as scratch:
        for part in ("MLmodel", CARD_DIR):
            mlflow.artifacts.download_artifacts(artifact_uri=f"{location.rstrip('/')}/{part}", dst_path=scratch)
        model_dir = Path(scratch)
        profile_path = model_dir / PREDICTION_PROFILE_FILE
        predictions = (PredictionProfile.model_validate(json.loads(profile_path.read_text()))
                       if profile_path.exists() else None)
        return Reference(name=name, version=version, card=ModelCard.read(model_dir),
                         checks=build_checks(model_dir), predictions=predictions)
