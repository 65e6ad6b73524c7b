"""A champion and a challenger version compared on the same requests.

During a challenge the gateway sends each request to both versions (one of them in shadow), so
every answered row has two answers from the same inputs. Comparing them row by row takes the
traffic out of the question: a difference is the models' own, and a few hundred requests show
how often they part ways, for which classes and which feature ranges. Once labels arrive, the same
paired rows say which version is right more often, with a paired interval that says whether the
gap is more than chance.

Pure: frames as ``pipelines.monitoring.reader.read_window`` returns them in, a ``Comparison`` out.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from registry.errors import InvalidFieldError
from registry.request_logs import INPUT_PREFIX, OUTPUT_PREFIX

KEYS = ["request_id", "row"]
PREDICTION = f"{OUTPUT_PREFIX}prediction"
PROBABILITY = f"{OUTPUT_PREFIX}probability_"
THEIRS = "challenger_"  # a paired frame holds the challenger's outputs as challenger_output_<column>
NEEDED = (*KEYS, "status", "latency_ms", PREDICTION)
TASKS = ("classification", "regression")
BINS = 5  # quantile bins per numeric feature, values per string feature
TOP_BINS = 5
BOOTSTRAP_RESAMPLES = 2000


class VersionFigures(BaseModel):
    """One version's logged requests, counted per request (its first row) as monitoring counts them."""

    requests: int = Field(0, description="distinct request ids logged")
    rows: int = Field(0, description="rows scored (status < 400)")
    errors: int = Field(0, description="requests answered with status >= 500")
    error_rate: float | None = Field(None, description="errors / requests; None without requests")
    refused: int = Field(0, description="requests refused as bad input (4xx)")
    p50_ms: float | None = Field(None, description="nearest-rank median latency over the requests")
    p99_ms: float | None = Field(None, description="nearest-rank 99th percentile latency over the requests")


class ClassAgreement(BaseModel):
    """What the challenger answered on the rows the champion gave one label."""

    champion_label: str = Field(description="the label the champion predicted")
    rows: int = Field(description="paired rows with that champion label")
    disagreements: int = Field(description="of them, rows where the challenger said another label")
    share: float = Field(description="disagreements / rows")
    challenger_labels: dict[str, int] = Field(description="the challenger's labels on those rows, with counts")


class FeatureBin(BaseModel):
    """Paired rows whose champion input falls in one range (numeric) or equals one value (string)."""

    feature: str = Field(description="the feature binned")
    low: float | None = Field(None, description="lower edge of a numeric bin (the first bin includes it)")
    high: float | None = Field(None, description="upper edge of a numeric bin (included)")
    value: str | None = Field(None, description="the value of a string feature's bin")
    rows: int = Field(description="paired rows in the bin")
    disagreements: int | None = Field(None, description="classification: rows with different labels")
    share: float | None = Field(None, description="classification: disagreements / rows")
    mean_absolute_difference: float | None = Field(None, description="regression: mean |challenger - champion|")


class LabelledComparison(BaseModel):
    """Both versions scored on the paired rows that have a label; ``difference`` > 0 favours the challenger."""

    rows: int = Field(description="paired rows with a label")
    metric: Literal["accuracy", "rmse"] = Field(description="the metric compared")
    champion_value: float = Field(description="the champion's metric on those rows")
    challenger_value: float = Field(description="the challenger's metric on those rows")
    difference: float = Field(description="challenger better by this much (accuracy: chal - champ; rmse: champ - chal)")
    interval: tuple[float, float] | None = Field(None, description="paired confidence interval of the difference; "
                                                 "None under 2 rows")
    clear_of_zero: bool = Field(False, description="the interval lies entirely above or below zero")
    better: Literal["challenger", "champion"] | None = Field(None, description="the side the interval favours, "
                                                             "when clear of zero")
    champion_metrics: dict[str, float] = Field(default_factory=dict, description="every evaluation metric, champion")
    challenger_metrics: dict[str, float] = Field(default_factory=dict, description="every evaluation metric, "
                                                 "challenger")


class Comparison(BaseModel):
    """Two versions' answers to the same requests, side by side. Task-specific figures stay None for
    the other task, and every figure that could not be computed says why in ``notes``."""

    task: Literal["classification", "regression"] = Field(description="the model's task")
    champion: VersionFigures = Field(description="the champion's traffic figures")
    challenger: VersionFigures = Field(description="the challenger's traffic figures")
    paired_rows: int = Field(0, description="rows both versions scored (same request_id and row)")
    paired_requests: int = Field(0, description="distinct requests among the paired rows")
    agreement: float | None = Field(None, description="classification: share of paired rows with the same label")
    disagreements: int | None = Field(None, description="classification: paired rows with different labels")
    mean_probability_difference: float | None = Field(None, description="classification: mean over rows of the "
                                                      "largest |probability difference| of any class")
    max_probability_difference: float | None = Field(None, description="classification: the largest of those")
    by_class: list[ClassAgreement] = Field(default_factory=list, description="classification: per champion label, "
                                           "most disagreements first")
    mean_absolute_difference: float | None = Field(None, description="regression: mean |challenger - champion|")
    max_absolute_difference: float | None = Field(None, description="regression: max |challenger - champion|")
    correlation: float | None = Field(None, description="regression: Pearson correlation of the two predictions")
    by_feature: dict[str, list[FeatureBin]] = Field(default_factory=dict, description="per feature, its bins")
    where_they_disagree: list[FeatureBin] = Field(default_factory=list, description="the bins (of enough rows) that "
                                                  "disagree most, above the overall figure")
    labelled: LabelledComparison | None = Field(None, description="which version is right more often, once labelled")
    notes: list[str] = Field(default_factory=list, description="what was not computed, and why")


def compare_versions(champion: pd.DataFrame, challenger: pd.DataFrame, *, task: str, classes: list | None,
                     features: list[str], labels: pd.DataFrame | None = None, confidence: float = 0.95) -> Comparison:
    """Each version's traffic, their answers compared row by row, and with labels which is right more often."""
    if task not in TASKS:
        raise InvalidFieldError(f"task must be one of {', '.join(TASKS)} (given {task!r})", field="task")
    champion, challenger = _complete(champion), _complete(challenger)
    paired, notes = _pair(champion, challenger), []
    figures = {}
    if paired.empty:
        notes.append("no paired rows yet: no request was scored by both versions")
    elif task == "classification":
        figures = _classification(paired, classes, features, notes)
    else:
        figures = _regression(paired, features, notes)
    labelled = _labelled(paired, labels, task=task, classes=classes, confidence=confidence, notes=notes)
    return Comparison(task=task, champion=_version_figures(champion), challenger=_version_figures(challenger),
                      paired_rows=len(paired), paired_requests=int(paired["request_id"].nunique()),
                      **figures, labelled=labelled, notes=notes)


def _complete(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every column a comparison reads (null where absent), status and latency as numbers."""
    frame = frame.reindex(columns=[*frame.columns, *(c for c in NEEDED if c not in frame.columns)])
    return frame.assign(status=pd.to_numeric(frame["status"], errors="coerce"),
                        latency_ms=pd.to_numeric(frame["latency_ms"], errors="coerce"))


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows a version scored, the first of each (request_id, row)."""
    scored = frame[(frame["status"] < 400) & frame[PREDICTION].notna()]
    return scored.drop_duplicates(KEYS).astype({"request_id": str, "row": "int64"})


def _pair(champion: pd.DataFrame, challenger: pd.DataFrame) -> pd.DataFrame:
    """Rows both versions scored: the champion's columns as logged, the challenger's outputs beside them."""
    theirs = _scored(challenger)
    outputs = [column for column in theirs.columns if column.startswith(OUTPUT_PREFIX)]
    theirs = theirs[[*KEYS, *outputs]].rename(columns={column: f"{THEIRS}{column}" for column in outputs})
    return _scored(champion).merge(theirs, on=KEYS, how="inner").reset_index(drop=True)


def _version_figures(frame: pd.DataFrame) -> VersionFigures:
    requests = frame.drop_duplicates("request_id")
    count, errors = len(requests), int((requests["status"] >= 500).sum())
    latency = np.sort(requests["latency_ms"].dropna().to_numpy(dtype="float64"))
    return VersionFigures(requests=count, rows=int((frame["status"] < 400).sum()), errors=errors,
                          error_rate=errors / count if count else None,
                          refused=int(requests["status"].between(400, 499).sum()),
                          p50_ms=_nearest_rank(latency, 0.5), p99_ms=_nearest_rank(latency, 0.99))


def _nearest_rank(ordered: np.ndarray, quantile: float) -> float | None:
    """The smallest value with at least ``quantile`` of the values at or below it."""
    if not len(ordered):
        return None
    return float(ordered[max(math.ceil(quantile * len(ordered) - 1e-9), 1) - 1])


def _classification(paired: pd.DataFrame, classes: list | None, features: list[str], notes: list[str]) -> dict:
    ours, theirs = paired[PREDICTION].astype(str), paired[f"{THEIRS}{PREDICTION}"].astype(str)
    same = ours == theirs
    differ = (~same).astype("float64")
    mean_gap, max_gap = _probability_difference(paired, classes)
    if mean_gap is None:
        notes.append("no probability columns logged by both versions: no probability difference")
    by_feature = _by_feature(paired, features, differ, "classification", notes)
    return {"agreement": float(same.mean()), "disagreements": int(differ.sum()),
            "mean_probability_difference": mean_gap, "max_probability_difference": max_gap,
            "by_class": _by_class(ours, theirs), "by_feature": by_feature,
            "where_they_disagree": _where_they_disagree(by_feature, len(paired), float(differ.mean()))}


def _probability_difference(paired: pd.DataFrame, classes: list | None) -> tuple[float | None, float | None]:
    """Per row the largest |difference| of any class's probability: its mean over rows, and its max."""
    names = [str(label) for label in classes] if classes else sorted(
        column.removeprefix(PROBABILITY) for column in paired.columns if column.startswith(PROBABILITY))
    columns = [f"{PROBABILITY}{name}" for name in names
               if f"{PROBABILITY}{name}" in paired.columns and f"{THEIRS}{PROBABILITY}{name}" in paired.columns]
    if not columns:
        return None, None
    gaps = np.abs(paired[columns].to_numpy(dtype="float64", na_value=np.nan)
                  - paired[[f"{THEIRS}{column}" for column in columns]].to_numpy(dtype="float64", na_value=np.nan))
    per_row = pd.DataFrame(gaps).max(axis=1).dropna()
    return (float(per_row.mean()), float(per_row.max())) if len(per_row) else (None, None)


def _by_class(ours: pd.Series, theirs: pd.Series) -> list[ClassAgreement]:
    """For each label the champion gave, what the challenger said instead; most disagreements first."""
    found = []
    for label, answers in theirs.groupby(ours, sort=True):
        differ = int((answers != label).sum())
        found.append(ClassAgreement(champion_label=label, rows=len(answers), disagreements=differ,
                                    share=differ / len(answers),
                                    challenger_labels={str(k): int(v) for k, v in answers.value_counts().items()}))
    return sorted(found, key=lambda entry: -entry.disagreements)


def _regression(paired: pd.DataFrame, features: list[str], notes: list[str]) -> dict:
    ours = pd.to_numeric(paired[PREDICTION], errors="coerce")
    theirs = pd.to_numeric(paired[f"{THEIRS}{PREDICTION}"], errors="coerce")
    gaps = (theirs - ours).abs()
    by_feature = _by_feature(paired, features, gaps, "regression", notes)
    return {"mean_absolute_difference": float(gaps.mean()), "max_absolute_difference": float(gaps.max()),
            "correlation": _correlation(ours, theirs, notes), "by_feature": by_feature,
            "where_they_disagree": _where_they_disagree(by_feature, len(paired), float(gaps.mean()))}


def _correlation(ours: pd.Series, theirs: pd.Series, notes: list[str]) -> float | None:
    keep = ours.notna() & theirs.notna()
    a, b = ours[keep].to_numpy(dtype="float64"), theirs[keep].to_numpy(dtype="float64")
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        notes.append("no correlation: fewer than 2 paired rows, or a version predicts one value throughout")
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _by_feature(paired: pd.DataFrame, features: list[str], measure: pd.Series, task: str,
                notes: list[str]) -> dict[str, list[FeatureBin]]:
    """Each feature's bins of the champion's inputs, with how much the versions differ in each."""
    found = {}
    for feature in features:
        column = f"{INPUT_PREFIX}{feature}"
        if column not in paired.columns:
            notes.append(f"feature {feature} is not in the log: not binned")
            continue
        values = paired[column]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        groups = _quantile_groups(values) if numeric else _value_groups(values)
        found[feature] = [_bin(feature, measure[inside], task, where) for where, inside in groups if inside.any()]
    return found


def _quantile_groups(values: pd.Series) -> list[tuple[dict, pd.Series]]:
    """Up to ``BINS`` quantile bins (edges that coincide merged), as (edges, rows inside)."""
    if values.notna().sum() == 0:
        return []
    codes, edges = pd.qcut(values, BINS, labels=False, retbins=True, duplicates="drop")
    if len(edges) < 2:  # one value throughout
        return [({"low": float(edges[0]), "high": float(edges[0])}, values.notna())]
    return [({"low": float(edges[i]), "high": float(edges[i + 1])}, codes == i) for i in range(len(edges) - 1)]


def _value_groups(values: pd.Series) -> list[tuple[dict, pd.Series]]:
    """The ``BINS`` commonest values, as (value, rows holding it)."""
    text = values.astype(str).where(values.notna())
    return [({"value": value}, text == value) for value in text.value_counts().index[:BINS]]


def _bin(feature: str, measure: pd.Series, task: str, where: dict) -> FeatureBin:
    if task == "classification":
        return FeatureBin(feature=feature, rows=len(measure), disagreements=int(measure.sum()),
                          share=float(measure.mean()), **where)
    return FeatureBin(feature=feature, rows=len(measure), mean_absolute_difference=float(measure.mean()), **where)


def _where_they_disagree(by_feature: dict[str, list[FeatureBin]], paired_rows: int, overall: float) -> list[FeatureBin]:
    """The bins of at least max(5, 2 % of the paired rows) that differ most, and more than overall."""
    floor = max(5, 0.02 * paired_rows)
    bins = [bin_ for bins in by_feature.values() for bin_ in bins if bin_.rows >= floor and _measure(bin_) > overall]
    return sorted(bins, key=lambda bin_: (-_measure(bin_), -bin_.rows))[:TOP_BINS]


def _measure(bin_: FeatureBin) -> float:
    return bin_.share if bin_.share is not None else bin_.mean_absolute_difference


def _labelled(paired: pd.DataFrame, labels: pd.DataFrame | None, *, task: str, classes: list | None,
              confidence: float, notes: list[str]) -> LabelledComparison | None:
    """The paired rows that have a label, scored for both versions; None (and a note) when there are none."""
    if labels is None or labels.empty:
        notes.append("no labels yet: which version is right more often is not measured")
        return None
    joined = paired.merge(_latest_labels(labels), on=KEYS, how="inner")
    if task == "regression":
        joined = joined.assign(label=pd.to_numeric(joined["label"], errors="coerce"))
        joined = joined[joined["label"].notna() & pd.to_numeric(joined[PREDICTION], errors="coerce").notna()
                        & pd.to_numeric(joined[f"{THEIRS}{PREDICTION}"], errors="coerce").notna()]
    if joined.empty:
        notes.append("no paired row has a (usable) label yet: which version is right is not measured")
        return None
    if len(joined) < 2:
        notes.append("one labelled paired row: no confidence interval")
    if task == "classification":
        return _labelled_classification(joined, classes, confidence)
    return _labelled_regression(joined, confidence)


def _latest_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """``request_id``, ``row``, ``label`` as strings and whole numbers, a later label for a row winning."""
    labels = labels if "row" in labels.columns else labels.assign(row=0)
    labels = labels[[*KEYS, "label"]].astype({"request_id": str, "row": "int64", "label": str})
    return labels.drop_duplicates(KEYS, keep="last")


def _predictions(joined: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """One version's outputs named as the model names them (``prediction``, ``probability_<class>``)."""
    start = f"{prefix}{OUTPUT_PREFIX}"
    columns = [column for column in joined.columns if column.startswith(start)]
    return joined[columns].set_axis([column.removeprefix(start) for column in columns], axis=1)


def _labelled_classification(joined: pd.DataFrame, classes: list | None, confidence: float) -> LabelledComparison:
    from registry.evaluation import classification_metrics

    truth = joined["label"].astype(str).reset_index(drop=True)
    ours, theirs = _predictions(joined, ""), _predictions(joined, THEIRS)
    ours, theirs = (side.assign(prediction=side["prediction"].astype(str)).reset_index(drop=True)
                    for side in (ours, theirs))
    names = [str(label) for label in classes] if classes else sorted(
        set(truth) | set(ours["prediction"]) | set(theirs["prediction"]))
    right = (ours["prediction"] == truth).astype("float64"), (theirs["prediction"] == truth).astype("float64")
    return _verdict("accuracy", right[0].mean(), right[1].mean(), _t_interval(right[1] - right[0], confidence),
                    rows=len(joined), champion_metrics=classification_metrics(truth, ours, names),
                    challenger_metrics=classification_metrics(truth, theirs, names))


def _labelled_regression(joined: pd.DataFrame, confidence: float) -> LabelledComparison:
    from registry.evaluation import regression_metrics

    truth = joined["label"].astype("float64").reset_index(drop=True)
    ours, theirs = (side.assign(prediction=pd.to_numeric(side["prediction"])).reset_index(drop=True)
                    for side in (_predictions(joined, ""), _predictions(joined, THEIRS)))
    squared = ((ours["prediction"] - truth) ** 2).to_numpy(), ((theirs["prediction"] - truth) ** 2).to_numpy()
    champion_metrics, challenger_metrics = regression_metrics(truth, ours), regression_metrics(truth, theirs)
    return _verdict("rmse", champion_metrics["rmse"], challenger_metrics["rmse"],
                    _bootstrap_interval(*squared, confidence), rows=len(joined),
                    champion_metrics=champion_metrics, challenger_metrics=challenger_metrics)


def _t_interval(differences: pd.Series, confidence: float) -> tuple[float, float] | None:
    """Mean ± t * sd / sqrt(n) of the per-row differences; None under 2 rows."""
    from scipy import stats

    count = len(differences)
    if count < 2:
        return None
    mean = float(differences.mean())
    half = float(stats.t.ppf((1 + confidence) / 2, count - 1)) * float(differences.std(ddof=1)) / math.sqrt(count)
    return mean - half, mean + half


def _bootstrap_interval(ours_squared: np.ndarray, theirs_squared: np.ndarray,
                        confidence: float) -> tuple[float, float] | None:
    """Percentile interval of champion RMSE - challenger RMSE over paired resamples of the rows."""
    count = len(ours_squared)
    if count < 2:
        return None
    rng = np.random.default_rng(0)
    draws = (rng.integers(0, count, count) for _ in range(BOOTSTRAP_RESAMPLES))
    differences = [math.sqrt(ours_squared[d].mean()) - math.sqrt(theirs_squared[d].mean()) for d in draws]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return float(low), float(high)


def _verdict(metric: str, champion_value: float, challenger_value: float, interval: tuple[float, float] | None,
             **parts) -> LabelledComparison:
    """The comparison, the difference oriented so that positive favours the challenger."""
    difference = challenger_value - champion_value if metric == "accuracy" else champion_value - challenger_value
    better = None
    if interval is not None and (interval[0] > 0 or interval[1] < 0):
        better = "challenger" if interval[0] > 0 else "champion"
    return LabelledComparison(metric=metric, champion_value=float(champion_value),
                              challenger_value=float(challenger_value), difference=float(difference),
                              interval=interval, clear_of_zero=better is not None, better=better, **parts)
