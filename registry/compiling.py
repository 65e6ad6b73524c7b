"""Choosing the runtime a model version is served with: its own library, or a compiled runtime
that gives the same answers faster.

Each of the flavor's compilers (``Flavor.compilers``) converts the model. A candidate is kept only
if, on the sample, it gives the native model's label on every row and its probabilities (or
regression values, relative to their size) within ``tolerance``: a float32 threshold that flips
one row fails the candidate. Of those kept, the fastest on one row wins if it beats the native
model there; otherwise the native model serves. Every figure is in the returned ``RuntimeChoice``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from registry.errors import InvalidFieldError
from registry.predictors import PREDICTION, Predictor

NATIVE = "native"
RuntimeRequest = Literal["auto", "native"]  # auto: the fastest that passes parity; native: never compiled
TOLERANCE = 1e-5
ONE_ROW_REPEATS = 200


@dataclass(frozen=True)
class Parity:
    """How a candidate's answers compare with the native model's on ``rows`` rows."""

    rows: int
    labels_differing: int  # rows whose predicted class differs (always 0 for regression)
    max_difference: float  # largest probability difference, or relative value difference
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.labels_differing == 0 and self.max_difference <= self.tolerance


@dataclass(frozen=True)
class Timing:
    """Median milliseconds of a one-row predict, and of one predict over the whole sample."""

    one_row_ms: float
    batch_ms: float
    batch_rows: int


@dataclass(frozen=True)
class Candidate:
    """One compiled runtime as measured; ``error`` when it could not convert this model."""

    runtime: str
    timing: Timing | None = None
    parity: Parity | None = None
    error: str | None = None


@dataclass(frozen=True)
class RuntimeChoice:
    runtime: str  # NATIVE or the chosen candidate's runtime
    native: Timing
    candidates: tuple[Candidate, ...]
    requested: RuntimeRequest

    @property
    def chosen(self) -> Candidate | None:
        return next((candidate for candidate in self.candidates if candidate.runtime == self.runtime), None)

    @property
    def one_row_speedup(self) -> float:
        chosen = self.chosen
        return self.native.one_row_ms / chosen.timing.one_row_ms if chosen else 1.0

    @property
    def batch_speedup(self) -> float:
        chosen = self.chosen
        return self.native.batch_ms / chosen.timing.batch_ms if chosen else 1.0


def choose_runtime(native: Predictor, sample: pd.DataFrame, *, requested: RuntimeRequest = "auto",
                   tolerance: float = TOLERANCE) -> tuple[Predictor, RuntimeChoice]:
    """The predictor to serve with and why: each compiler of the model's flavor tried on ``sample``
    (the model's validation sample), gated by parity, timed against ``native``."""
    from registry.flavors import flavor_named

    if requested not in ("auto", NATIVE):
        raise InvalidFieldError(f"runtime {requested!r}: choose auto or native", field="runtime")
    if sample.empty:
        raise InvalidFieldError("a runtime is chosen on the model's sample, and it has no rows", field="sample")
    expected = native.predict(sample)
    candidates, compiled = [], {}
    if requested == "auto":
        for compiler in flavor_named(native.card.flavor).compilers:
            candidate, predictor = _try(compiler, native, sample, expected, tolerance)
            candidates.append(candidate)
            if predictor is not None:
                compiled[candidate.runtime] = predictor
    native_timing = _timing(native, sample)
    passing = [candidate for candidate in candidates if candidate.runtime in compiled and candidate.parity.passed]
    best = min(passing, key=lambda candidate: candidate.timing.one_row_ms, default=None)
    if best is not None and best.timing.one_row_ms < native_timing.one_row_ms:
        return compiled[best.runtime], RuntimeChoice(best.runtime, native_timing, tuple(candidates), requested)
    return native, RuntimeChoice(NATIVE, native_timing, tuple(candidates), requested)


def parity_sample(model_dir: Path) -> pd.DataFrame:
    """The rows a version is checked on: those registered with it, else (a version registered
    before they were kept) its MLflow input example."""
    from mlflow.models import Model

    from registry.registration import PARITY_SAMPLE_FILE

    path = Path(model_dir) / PARITY_SAMPLE_FILE
    if path.exists():
        return pd.read_parquet(path)
    example = Model.load(str(model_dir)).load_input_example(str(model_dir))
    if not isinstance(example, pd.DataFrame) or example.empty:
        raise InvalidFieldError(f"{model_dir} keeps no rows to check a compiled runtime on", field="sample")
    return example


def _try(compiler, native: Predictor, sample: pd.DataFrame, expected: pd.DataFrame,
         tolerance: float) -> tuple[Candidate, Predictor | None]:
    try:
        predictor = compiler.compile(native.native, native.card)
    except Exception as error:  # a converter's failure only means this runtime is not used
        return Candidate(compiler.runtime, error=f"{type(error).__name__}: {error}"[:500]), None
    if predictor is None:
        return Candidate(compiler.runtime, error=f"{compiler.runtime} does not take this model"), None
    try:
        answered = predictor.predict(sample)
    except Exception as error:
        return Candidate(compiler.runtime, error=f"{type(error).__name__}: {error}"[:500]), None
    parity = compare(expected, answered, classification=native.card.task == "classification",
                     tolerance=tolerance)
    return Candidate(compiler.runtime, _timing(predictor, sample), parity), predictor


def compare(expected: pd.DataFrame, answered: pd.DataFrame, *, classification: bool, tolerance: float) -> Parity:
    """Labels row by row, then every probability column (or the value, relative to its size)."""
    if classification:
        differing = int((expected[PREDICTION].to_numpy() != answered[PREDICTION].to_numpy()).sum())
        columns = [column for column in expected.columns if column != PREDICTION]
        gaps = np.abs(expected[columns].to_numpy(dtype=float) - answered[columns].to_numpy(dtype=float)) \
            if columns else np.zeros(1)
    else:
        differing = 0
        wanted = expected[PREDICTION].to_numpy(dtype=float)
        gaps = np.abs(wanted - answered[PREDICTION].to_numpy(dtype=float)) / np.maximum(1.0, np.abs(wanted))
    return Parity(rows=len(expected), labels_differing=differing, max_difference=float(np.max(gaps)),
                  tolerance=tolerance)


def _timing(predictor: Predictor, sample: pd.DataFrame) -> Timing:
    rows = [sample.iloc[[index % len(sample)]] for index in range(ONE_ROW_REPEATS)]
    predictor.predict(rows[0])  # the first call pays for lazy set-up
    one_row = []
    for row in rows:
        started = time.perf_counter()
        predictor.predict(row)
        one_row.append(time.perf_counter() - started)
    batch = []
    for _ in range(3):
        started = time.perf_counter()
        predictor.predict(sample)
        batch.append(time.perf_counter() - started)
    return Timing(one_row_ms=statistics.median(one_row) * 1000.0, batch_ms=min(batch) * 1000.0,
                  batch_rows=len(sample))
