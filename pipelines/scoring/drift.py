"""Drift of each feature against the training profile, as the Population Stability Index.

Partitions count values into the training profile's bins; the driver sums the counts and
computes PSI once. Values beyond the training range fall into the outermost bins. A partition
counts an evenly spaced sample of its rows: PSI needs shares, not every row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.scoring.checks import Checks

EPSILON = 1e-4
SAMPLE_ROWS = 50_000


def histograms(frame: pd.DataFrame, checks: Checks) -> dict[str, list[int]]:
    """Counts per training bin, from an evenly spaced sample of at most SAMPLE_ROWS rows."""
    step = max(1, len(frame) // SAMPLE_ROWS)
    frame = frame.iloc[::step]
    counts = {}
    for feature in checks.features:
        values = frame[feature.name]
        if feature.kind == "numeric" and len(feature.bin_edges) > 1:
            numbers = values.dropna().to_numpy(dtype="float64")
            inner = np.asarray(feature.bin_edges[1:-1])
            bins = np.searchsorted(inner, numbers, side="right")
            counts[feature.name] = np.bincount(bins, minlength=len(feature.bin_edges) - 1).tolist()
        elif feature.categories:
            seen = values.dropna().astype(str).value_counts()
            known = [int(seen.get(category, 0)) for category in feature.categories]
            counts[feature.name] = known + [int(seen.sum()) - sum(known)]
    return counts


def add_histograms(total: dict[str, list[int]], part: dict[str, list[int]]) -> dict[str, list[int]]:
    for name, counts in part.items():
        total[name] = [a + b for a, b in zip(total[name], counts)] if name in total else list(counts)
    return total


def psi(expected: list[int], actual: list[int]) -> float:
    expected_share = np.maximum(np.asarray(expected, dtype="float64") / max(sum(expected), 1), EPSILON)
    actual_share = np.maximum(np.asarray(actual, dtype="float64") / max(sum(actual), 1), EPSILON)
    return float(np.sum((actual_share - expected_share) * np.log(actual_share / expected_share)))


def drift_report(observed: dict[str, list[int]], checks: Checks) -> dict[str, float]:
    """PSI per feature (0.1: some drift, 0.25: significant, by the usual reading)."""
    report = {}
    for feature in checks.features:
        actual = observed.get(feature.name)
        if not actual or not sum(actual):
            continue
        if feature.kind == "numeric" and feature.bin_counts:
            report[feature.name] = psi(feature.bin_counts, actual)
    return report
