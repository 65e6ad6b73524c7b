"""Per-feature statistics of a data set, kept with each model for validation and drift checks."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
DRIFT_BINS = 10
MAX_CATEGORIES = 50


class FeatureProfile(BaseModel):
    name: str
    dtype: str
    kind: Literal["numeric", "boolean", "categorical", "datetime"]
    count: int
    nulls: int
    distinct: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = {}
    bin_edges: list[float] = []
    bin_counts: list[int] = []
    categories: dict[str, int] = {}

    @property
    def null_fraction(self) -> float:
        return self.nulls / self.count if self.count else 0.0


class DataProfile(BaseModel):
    """What the model saw in training: rows, columns and each feature's distribution."""

    rows: int
    columns: int
    target: str | None = None
    features: list[FeatureProfile]

    def feature(self, name: str) -> FeatureProfile:
        return next(feature for feature in self.features if feature.name == name)


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    return "categorical"


def _numeric_stats(values: pd.Series) -> dict:
    values = values.dropna().astype("float64")
    if values.empty:
        return {}
    quantiles = values.quantile(QUANTILES)
    edges = np.unique(values.quantile(np.linspace(0, 1, DRIFT_BINS + 1)).to_numpy())
    counts = np.histogram(values, bins=edges)[0] if len(edges) > 1 else np.array([len(values)])
    return {
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=0)),
        "quantiles": {f"p{round(q * 100):02d}": float(v) for q, v in quantiles.items()},
        "bin_edges": [float(edge) for edge in edges],
        "bin_counts": [int(count) for count in counts],
    }


def profile_feature(series: pd.Series) -> FeatureProfile:
    kind = _kind(series)
    stats: dict = {}
    if kind == "numeric":
        stats = _numeric_stats(series)
    elif kind in ("categorical", "boolean"):
        counts = series.dropna().astype(str).value_counts().head(MAX_CATEGORIES)
        stats = {"categories": {str(key): int(value) for key, value in counts.items()}}
    return FeatureProfile(
        name=str(series.name),
        dtype=str(series.dtype),
        kind=kind,
        count=int(len(series)),
        nulls=int(series.isna().sum()),
        distinct=int(series.nunique(dropna=True)),
        **stats,
    )


def profile_frame(features: pd.DataFrame, target: str | None = None) -> DataProfile:
    """Profile every feature column (the target, if given, is described but not a feature)."""
    return DataProfile(
        rows=len(features),
        columns=features.shape[1],
        target=target,
        features=[profile_feature(features[column]) for column in features.columns],
    )


class PredictionProfile(BaseModel):
    """What the model predicted on its validation set: the reference for prediction drift.
    Classifiers: the count of each predicted class; regressors: the values' bins (as features)."""

    task: Literal["classification", "regression"]
    rows: int
    class_counts: dict[str, int] = {}
    bin_edges: list[float] = []
    bin_counts: list[int] = []


def profile_predictions(predictions: pd.Series, task: str) -> PredictionProfile:
    if task == "classification":
        counts = predictions.dropna().astype(str).value_counts()
        return PredictionProfile(task=task, rows=len(predictions),
                                 class_counts={str(key): int(value) for key, value in counts.items()})
    stats = _numeric_stats(predictions)
    return PredictionProfile(task=task, rows=len(predictions), bin_edges=stats.get("bin_edges", []),
                             bin_counts=stats.get("bin_counts", []))
