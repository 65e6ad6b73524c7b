"""The figures of one window of logged requests, from a frame ``reader.read_window`` returned.

Drift uses the training profile's bins (``pipelines.scoring.drift``), so online and batch PSI sit
on one scale; the window before is compared over the same bins.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from pipelines.monitoring.reference import Reference
from pipelines.scoring.drift import drift_report, histograms, psi
from registry.monitoring import FeatureQuality, Figures
from registry.request_logs import INPUT_PREFIX, OUTPUT_PREFIX

QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}


def traffic(frame: pd.DataFrame, start: datetime, end: datetime) -> dict:
    """Counted per request (its first row), not per scored row. An error is an answer of status 500
    or more, as the gateway counts it; a refused request (4xx: bad input) is counted apart."""
    requests = frame.drop_duplicates("request_id")
    count = len(requests)
    errors = int((requests["status"] >= 500).sum())
    refused = int(requests["status"].between(400, 499).sum())
    latency = requests["latency_ms"].dropna()
    minutes = max((end - start).total_seconds() / 60, 1e-9)
    return {
        "requests": count, "rows": int((frame["status"] < 400).sum()), "errors": errors, "refused": refused,
        "error_rate": errors / count if count else None,
        "latency_p50_ms": float(latency.quantile(0.5)) if len(latency) else None,
        "latency_p99_ms": float(latency.quantile(0.99)) if len(latency) else None,
        "requests_per_min": count / minutes,
    }


def scored_inputs(frame: pd.DataFrame, reference: Reference) -> pd.DataFrame:
    """The answered rows' features, named as the model names them."""
    scored = frame[frame["status"] < 400]
    names = [name for name in reference.checks.names if f"{INPUT_PREFIX}{name}" in scored.columns]
    return scored[[f"{INPUT_PREFIX}{name}" for name in names]].set_axis(names, axis=1)


def data_quality(inputs: pd.DataFrame, reference: Reference) -> dict[str, FeatureQuality]:
    quality = {}
    for check in reference.checks.features:
        if check.name not in inputs.columns:
            continue
        values = inputs[check.name]
        out_of_range = unseen = 0
        if check.kind == "numeric" and (check.min is not None or check.max is not None):
            numbers = values.to_numpy(dtype="float64", na_value=np.nan)
            out_of_range = int(np.sum((numbers < (check.min if check.min is not None else -np.inf))
                                      | (numbers > (check.max if check.max is not None else np.inf))))
        elif check.categories:
            unseen = int((~values.dropna().astype(str).isin(check.categories)).sum())
        quality[check.name] = FeatureQuality(nulls=int(values.isna().sum()), out_of_range=out_of_range, unseen=unseen)
    return quality


def previous_psi(current: dict[str, list[int]], previous: Figures | None) -> dict[str, float]:
    """PSI of each feature against the window before, over the same training bins."""
    if previous is None:
        return {}
    report = {}
    for name, counts in current.items():
        before = previous.feature_histograms.get(name)
        if before and len(before) == len(counts) and sum(before) and sum(counts):
            report[name] = psi(before, counts)
    return report


def prediction_drift(frame: pd.DataFrame, reference: Reference) -> tuple[float | None, dict[str, float], list[str]]:
    """PSI of the predictions against the validation predictions, and their mix (class shares,
    or quantiles of the value)."""
    column = f"{OUTPUT_PREFIX}prediction"
    if column not in frame.columns:
        return None, {}, ["the log has no predictions"]
    predicted = frame.loc[frame["status"] < 400, column].dropna()
    if predicted.empty:
        return None, {}, []
    profile = reference.predictions
    if reference.card.task == "classification":
        counts = predicted.astype(str).value_counts()
        mix = {str(label): float(count / len(predicted)) for label, count in counts.items()}
        if profile is None:
            return None, mix, ["no prediction profile: registered before monitoring, so no prediction drift"]
        labels = sorted(set(profile.class_counts) | set(mix))
        value = psi([profile.class_counts.get(label, 0) for label in labels],
                    [int(counts.get(label, 0)) for label in labels])
        return value, mix, []
    numbers = predicted.to_numpy(dtype="float64")
    mix = {name: float(np.quantile(numbers, q)) for name, q in QUANTILES.items()}
    if profile is None or len(profile.bin_edges) < 2:
        return None, mix, ["no prediction profile: registered before monitoring, so no prediction drift"]
    bins = np.searchsorted(np.asarray(profile.bin_edges[1:-1]), numbers, side="right")
    actual = np.bincount(bins, minlength=len(profile.bin_edges) - 1).tolist()
    return psi(profile.bin_counts, actual), mix, []


def window_figures(frame: pd.DataFrame, reference: Reference, *, start: datetime, end: datetime,
                   psi_line: float, previous: Figures | None = None) -> Figures:
    """Everything but the labelled metrics (``labels.labelled_metrics`` adds those)."""
    notes = []
    inputs = scored_inputs(frame, reference)
    observed = histograms(inputs, reference.checks) if len(inputs) else {}
    feature_psi = drift_report(observed, reference.checks)
    if len(inputs) and not any(check.bin_counts for check in reference.checks.features):
        notes.append("no training profile: registered without training data, so no feature drift")
    drifted = sorted(name for name, value in feature_psi.items() if value >= psi_line)
    prediction_psi, mix, prediction_notes = prediction_drift(frame, reference)
    return Figures(
        **traffic(frame, start, end),
        feature_psi=feature_psi, previous_psi=previous_psi(observed, previous),
        drifted_features=drifted, drifted_share=len(drifted) / len(feature_psi) if feature_psi else None,
        data_quality=data_quality(inputs, reference),
        prediction_psi=prediction_psi, prediction_mix=mix,
        feature_histograms=observed, notes=notes + prediction_notes,
    )
