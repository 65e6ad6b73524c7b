"""Scoring one partition: features in, the key columns and predictions out."""

from __future__ import annotations

import pandas as pd

from registry.predictors import PREDICTION, Predictor


def score_partition(
    frame: pd.DataFrame, predictor: Predictor, passthrough: list[str], stamp: dict[str, object]
) -> pd.DataFrame:
    """Key columns, ``prediction`` (+ ``probability_<class>``) and the run's stamp columns."""
    if frame.empty:
        columns = [*passthrough, PREDICTION, *predictor.card.probability_columns, *stamp]
        return pd.DataFrame(columns=columns)
    predictions = predictor.predict(frame)
    keys = frame[passthrough].reset_index(drop=True)
    scored = pd.concat([keys, predictions.reset_index(drop=True)], axis=1)
    return scored.assign(**stamp)


def summarise_predictions(scored: pd.DataFrame, task: str) -> tuple[dict[str, int], list[float], list[float | None]]:
    """Class counts, or count/sum/sum of squares and range for regression; summed on the driver."""
    if scored.empty:
        return {}, [0.0, 0.0, 0.0], [None, None]
    if task == "classification":
        return {str(k): int(v) for k, v in scored[PREDICTION].value_counts().items()}, [0.0, 0.0, 0.0], [None, None]
    values = scored[PREDICTION].to_numpy(dtype="float64")
    return {}, [float(len(values)), float(values.sum()), float((values**2).sum())], [float(values.min()), float(values.max())]
