"""Metrics, feature importance and evaluation plots for a predictor on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry.predictors import PREDICTION, Predictor

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
KEY_METRIC = {"classification": "roc_auc", "regression": "rmse"}
LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss"})  # errors and losses; every other metric: higher


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of the metric (``validation_rmse`` or ``rmse``) is the better model."""
    return metric.removeprefix("validation_").removeprefix("training_") not in LOWER_IS_BETTER


def classification_metrics(
    y_true: pd.Series, predictions: pd.DataFrame, classes: list[Any]
) -> dict[str, float]:
    from sklearn import metrics

    labels = predictions[PREDICTION].to_numpy()
    y = y_true.to_numpy()
    average = "binary" if len(classes) == 2 else "macro"
    binary = {"pos_label": classes[1]} if average == "binary" else {}
    result = {
        "accuracy": metrics.accuracy_score(y, labels),
        "precision": metrics.precision_score(y, labels, average=average, zero_division=0, **binary),
        "recall": metrics.recall_score(y, labels, average=average, zero_division=0, **binary),
        "f1": metrics.f1_score(y, labels, average=average, zero_division=0, **binary),
    }
    probability_columns = [f"probability_{label}" for label in classes]
    if set(probability_columns) <= set(predictions.columns) and len(np.unique(y)) > 1:
        probabilities = predictions[probability_columns].to_numpy(dtype="float64")
        probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)  # float32 models
        if len(classes) == 2:
            result["roc_auc"] = metrics.roc_auc_score(y == classes[1], probabilities[:, 1])
        else:
            result["roc_auc"] = metrics.roc_auc_score(
                y, probabilities, multi_class="ovr", labels=classes
            )
        result["log_loss"] = metrics.log_loss(y, probabilities, labels=classes)
    return {name: float(value) for name, value in result.items()}


def regression_metrics(y_true: pd.Series, predictions: pd.DataFrame) -> dict[str, float]:
    from sklearn import metrics

    predicted = predictions[PREDICTION].to_numpy(dtype="float64")
    return {
        "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, predicted))),
        "mae": float(metrics.mean_absolute_error(y_true, predicted)),
        "r2": float(metrics.r2_score(y_true, predicted)),
    }


def evaluate(predictor: Predictor, features: pd.DataFrame, target: pd.Series) -> dict[str, float]:
    predictions = predictor.predict(features)
    if predictor.card.task == "classification":
        return classification_metrics(target, predictions, predictor.card.classes)
    return regression_metrics(target, predictions)


def native_importance(native: Any, feature_names: list[str]) -> dict[str, float] | None:
    """Importances the model itself carries (trees, linear coefficients, boosters)."""
    model = native.steps[-1][1] if hasattr(native, "steps") else native
    values = None
    if hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype="float64")
    elif hasattr(model, "coef_"):
        values = np.abs(np.asarray(model.coef_, dtype="float64")).reshape(-1, len(feature_names))
        values = values.mean(axis=0)
    elif hasattr(model, "get_score"):  # xgboost Booster
        gains = model.get_score(importance_type="gain")
        names = model.feature_names or [f"f{i}" for i in range(len(feature_names))]
        values = np.array([gains.get(name, 0.0) for name in names])
    elif hasattr(model, "feature_importance"):  # lightgbm Booster
        values = np.asarray(model.feature_importance(importance_type="gain"), dtype="float64")
    if values is None or len(values) != len(feature_names):
        return None
    return _normalised(dict(zip(feature_names, values)))


def permutation_importance(
    predictor: Predictor, features: pd.DataFrame, target: pd.Series, *, seed: int = 0
) -> dict[str, float]:
    """Drop in the key score when each feature is shuffled: works for any flavor."""
    metric = KEY_METRIC[predictor.card.task]
    baseline = evaluate(predictor, features, target)
    if metric not in baseline:
        metric = "accuracy" if predictor.card.task == "classification" else metric
    sign = -1.0 if metric == "rmse" else 1.0
    rng = np.random.default_rng(seed)
    drops = {}
    for name in predictor.card.feature_names:
        shuffled = features.copy()
        shuffled[name] = rng.permutation(shuffled[name].to_numpy())
        drops[name] = max(0.0, sign * (baseline[metric] - evaluate(predictor, shuffled, target)[metric]))
    return _normalised(drops)


def _normalised(values: dict[str, float]) -> dict[str, float]:
    total = sum(abs(value) for value in values.values()) or 1.0
    ordered = sorted(values.items(), key=lambda item: -abs(item[1]))
    return {name: float(abs(value) / total) for name, value in ordered}


PLOT_TITLES = {
    "confusion_matrix": "Confusion matrix",
    "roc_curve": "ROC curve",
    "residuals": "Residuals",
    "feature_importance": "Feature importance",
}


def plot_title(name: str) -> str:
    """How the page and the ModelDoc title a plot ``write_plots`` drew (or one an older version has)."""
    return PLOT_TITLES.get(name, name.replace("_", " "))


def write_plots(
    predictor: Predictor,
    features: pd.DataFrame,
    target: pd.Series,
    importance: dict[str, float] | None,
    out_dir: Path,
) -> list[Path]:
    """PNG plots for the ModelDoc: confusion matrix and ROC, or residuals; importances."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    predictions = predictor.predict(features)
    written = []
    if predictor.card.task == "classification":
        written.append(_confusion_matrix(plt, target, predictions, predictor.card.classes, out_dir))
        if set(predictor.card.probability_columns) <= set(predictions.columns):
            written.append(_roc_curve(plt, target, predictions, predictor.card.classes, out_dir))
    else:
        written.append(_residuals(plt, target, predictions, out_dir))
    if importance:
        written.append(_importance(plt, importance, out_dir))
    return written


def _save(plt, figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _confusion_matrix(plt, target, predictions, classes, out_dir):
    from sklearn.metrics import ConfusionMatrixDisplay

    figure, axes = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        target.astype(str), predictions[PREDICTION].astype(str),
        labels=[str(label) for label in classes], ax=axes, colorbar=False,
    )
    axes.set_title("Confusion matrix (validation)")
    return _save(plt, figure, out_dir / "confusion_matrix.png")


def _roc_curve(plt, target, predictions, classes, out_dir):
    from sklearn.metrics import RocCurveDisplay

    figure, axes = plt.subplots(figsize=(4.5, 4))
    positives = classes[1:] if len(classes) == 2 else classes
    for label in positives:
        RocCurveDisplay.from_predictions(
            target == label, predictions[f"probability_{label}"], name=f"class {label}", ax=axes
        )
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set_title("ROC curve (validation)")
    return _save(plt, figure, out_dir / "roc_curve.png")


def _residuals(plt, target, predictions, out_dir):
    predicted = predictions[PREDICTION].to_numpy(dtype="float64")
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.scatter(predicted, target.to_numpy() - predicted, s=8, alpha=0.6)
    axes.axhline(0, color="grey", linestyle="--")
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual - predicted")
    axes.set_title("Residuals (validation)")
    return _save(plt, figure, out_dir / "residuals.png")


def _importance(plt, importance, out_dir):
    top = list(importance.items())[:15][::-1]
    figure, axes = plt.subplots(figsize=(5, 0.3 * len(top) + 1.2))
    axes.barh([name for name, _ in top], [value for _, value in top])
    axes.set_xlabel("relative importance")
    axes.set_title("Feature importance")
    return _save(plt, figure, out_dir / "feature_importance.png")
