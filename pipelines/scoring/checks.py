"""The expectations a model places on its input, derived from its signature and training profile.

They are plain data (shipped to every Dask worker) and turn into Great Expectations
expectations in ``validation``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from registry.card import ModelCard
from registry.profiling import MAX_CATEGORIES, DataProfile
from registry.registration import PROFILE_FILE

NUMERIC_TYPES = {"double", "float", "long", "integer"}


class FeatureCheck(BaseModel):
    name: str
    kind: Literal["numeric", "categorical", "boolean"]
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    bin_edges: list[float] = []
    bin_counts: list[int] = []


class Checks(BaseModel):
    features: list[FeatureCheck]
    extra: list[dict[str, Any]] = []

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]


def _signature_types(model_dir: Path) -> dict[str, str]:
    from mlflow.models import Model

    signature = Model.load(str(model_dir)).signature
    if signature is None:
        return {}
    return {spec["name"]: spec["type"] for spec in signature.inputs.to_dict() if "name" in spec}


def _feature_check(name: str, dtype: str, profile: DataProfile | None, tolerance: float | None) -> FeatureCheck:
    stats = next((f for f in profile.features if f.name == name), None) if profile else None
    kind = "numeric" if dtype in NUMERIC_TYPES else "boolean" if dtype == "boolean" else "categorical"
    check = FeatureCheck(name=name, kind=kind, nullable=bool(stats and stats.nulls))
    if stats is None:
        return check
    if kind == "numeric" and stats.min is not None:
        slack = (stats.max - stats.min) * tolerance if tolerance is not None else None
        if slack is not None:
            check.min, check.max = stats.min - slack, stats.max + slack
        check.bin_edges, check.bin_counts = stats.bin_edges, stats.bin_counts
    if kind == "categorical" and stats.distinct <= MAX_CATEGORIES:
        check.categories = sorted(stats.categories)
    return check


def build_checks(
    model_dir: Path, *, range_tolerance: float | None = 0.25, extra: list[dict[str, Any]] = ()
) -> Checks:
    """Checks for every feature: presence, type, nulls, range and categories as seen in training."""
    card = ModelCard.read(model_dir)
    profile_path = Path(model_dir) / PROFILE_FILE
    profile = DataProfile.model_validate(json.loads(profile_path.read_text())) if profile_path.exists() else None
    types = _signature_types(model_dir)
    return Checks(
        features=[
            _feature_check(name, types.get(name, "double"), profile, range_tolerance)
            for name in card.feature_names
        ],
        extra=list(extra),
    )
