"""Choosing the runtime a model version is served with: its own library, or a compiled runtime
that gives the same answers faster.

Each of the flavor's compilers (``Flavor.compilers``) converts the model. A candidate is kept only
if, on the sample, it gives the native model's label on every row and its probabilities (or
regression values, relative to their size) within ``tolerance``: a float32 threshold that flips
one row fails the candidate. Of those kept, the fastest on one row wins if it beats the native
model there; otherwise the native model serves. Every figure is in the returned ``RuntimeChoice``.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from registry.errors import InvalidFieldError
from registry.predictors import PREDICTION, Predictor
from registry.runtimes import (
    NATIVE, RUNTIME_REQUESTS, TOLERANCE, Candidate, ChosenBy, Parity, RuntimeChoice, RuntimeRequest, Timing,
)

logger = logging.getLogger(__name__)

ONE_ROW_REPEATS = 200
# Batch scoring calls the model on whole partitions: a runtime faster on the kept few hundred rows
# can be slower on 500,000 (ONNX Runtime's forest measured 3.6 s a million rows against
# scikit-learn's 3.3), so a batch choice is timed on the sample repeated to this many rows.
BATCH_TIMING_ROWS = 50_000


def choose_runtime(native: Predictor, sample: pd.DataFrame, *, requested: RuntimeRequest = "auto",
                   tolerance: float = TOLERANCE, by: ChosenBy = "one_row") -> tuple[Predictor, RuntimeChoice]:
    """The predictor to serve with and why: each compiler of the model's flavor tried on ``sample``
    (the model's validation sample), gated by parity, timed against ``native`` on what must be
    faster (``by``: one row for online serving, the whole sample for batch scoring). A compiled
    predictor's ``runtime`` names it."""
    from registry.flavors import flavor_named

    if requested not in RUNTIME_REQUESTS:
        raise InvalidFieldError(f"runtime {requested!r}: choose {' or '.join(RUNTIME_REQUESTS)}", field="runtime")
    if sample.empty:
        raise InvalidFieldError("a runtime is chosen on the model's sample, and it has no rows", field="sample")
    expected = native.predict(sample)
    candidates, compiled = [], {}
    if requested == "auto":
        for compiler in flavor_named(native.card.flavor).compilers:
            candidate, predictor = _try(compiler, native, sample, expected, tolerance, by)
            candidates.append(candidate)
            if predictor is not None:
                compiled[candidate.runtime] = predictor
    native_timing = _timing(native, sample, by)
    passing = [candidate for candidate in candidates if candidate.runtime in compiled and candidate.parity.passed]
    speed = (lambda timing: timing.one_row_ms) if by == "one_row" else (lambda timing: timing.batch_ms)
    best = min(passing, key=lambda candidate: speed(candidate.timing), default=None)
    if best is not None and speed(best.timing) < speed(native_timing):
        chosen = compiled[best.runtime]
        chosen.runtime = best.runtime
        return chosen, RuntimeChoice(runtime=best.runtime, native=native_timing, candidates=tuple(candidates),
                                     requested=requested, by=by)
    return native, RuntimeChoice(runtime=NATIVE, native=native_timing, candidates=tuple(candidates),
                                 requested=requested, by=by)


def choose_for_version(native: Predictor, model_dir: Path, *, requested: RuntimeRequest = "auto",
                       tolerance: float = TOLERANCE, by: ChosenBy = "one_row") -> tuple[Predictor, RuntimeChoice]:
    """``choose_runtime`` on the rows the version keeps; native, saying so, for a version that
    keeps none (imported without sample data) or when ``native`` was asked for."""
    if requested == NATIVE:
        return native, RuntimeChoice(runtime=NATIVE, native=None, requested=NATIVE, by=by)
    try:
        sample = parity_sample(model_dir)
    except InvalidFieldError:
        return native, RuntimeChoice(runtime=NATIVE, native=None, requested=requested,
                                     reason="the version keeps no rows to check a compiled runtime on", by=by)
    return choose_runtime(native, sample, requested=requested, tolerance=tolerance, by=by)


def parity_sample(model_dir: Path) -> pd.DataFrame:
    """The rows a version is checked on: those registered with it (older versions have none) and
    its MLflow input example, which the deploy's own parity step sends to every replica."""
    from mlflow.models import Model

    from registry.registration import PARITY_SAMPLE_FILE

    path = Path(model_dir) / PARITY_SAMPLE_FILE
    frames = [pd.read_parquet(path)] if path.exists() else []
    example = Model.load(str(model_dir)).load_input_example(str(model_dir))
    if isinstance(example, pd.DataFrame) and not example.empty:
        frames.append(example)
    if not frames:
        raise InvalidFieldError(f"{model_dir} keeps no rows to check a compiled runtime on", field="sample")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def build_chosen(native: Predictor, model_dir: Path, runtime: str, *,
                 tolerance: float = TOLERANCE) -> Predictor:
    """The runtime a run's driver chose (``choose_for_version``), built again where the rows are
    scored: converted and checked for parity on the version's rows, not timed again, so every
    worker of a run scores with the same runtime. A worker whose libraries convert it differently
    keeps the native model (its partitions say so) rather than give other answers."""
    from registry.flavors import flavor_named

    if runtime == NATIVE:
        return native
    compiler = next((each for each in flavor_named(native.card.flavor).compilers if each.runtime == runtime), None)
    if compiler is None:
        raise InvalidFieldError(f"runtime {runtime!r} does not compile {native.card.flavor} models", field="runtime")
    sample = parity_sample(model_dir)
    candidate, predictor = _converted(compiler, native, sample, native.predict(sample), tolerance)
    if predictor is None or not candidate.parity.passed:
        logger.warning("%s was chosen but is not used here: %s", runtime, candidate.error or candidate.parity)
        return native
    predictor.runtime = runtime
    return predictor


def _try(compiler, native: Predictor, sample: pd.DataFrame, expected: pd.DataFrame,
         tolerance: float, by: ChosenBy) -> tuple[Candidate, Predictor | None]:
    candidate, predictor = _converted(compiler, native, sample, expected, tolerance)
    if predictor is None:
        return candidate, None
    return candidate.model_copy(update={"timing": _timing(predictor, sample, by)}), predictor


def _converted(compiler, native: Predictor, sample: pd.DataFrame, expected: pd.DataFrame,
               tolerance: float) -> tuple[Candidate, Predictor | None]:
    """The compiled predictor and its parity on ``sample``; its error instead where it has none."""
    try:
        predictor = compiler.compile(native.native, native.card)
    except Exception as error:  # a converter's failure only means this runtime is not used
        return Candidate(runtime=compiler.runtime, error=f"{type(error).__name__}: {error}"[:500]), None
    if predictor is None:
        return Candidate(runtime=compiler.runtime, error=f"{compiler.runtime} does not take this model"), None
    try:
        answered = predictor.predict(sample)
    except Exception as error:
        return Candidate(runtime=compiler.runtime, error=f"{type(error).__name__}: {error}"[:500]), None
    parity = compare(expected, answered, classification=native.card.task == "classification",
                     tolerance=tolerance)
    return Candidate(runtime=compiler.runtime, parity=parity), predictor


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
                  tolerance=tolerance, classification=classification)


def _timing(predictor: Predictor, sample: pd.DataFrame, by: ChosenBy) -> Timing:
    predictor.predict(sample.iloc[[0]])  # the first call pays for lazy set-up
    one_row = []
    if by == "one_row":
        for row in [sample.iloc[[index % len(sample)]] for index in range(ONE_ROW_REPEATS)]:
            started = time.perf_counter()
            predictor.predict(row)
            one_row.append(time.perf_counter() - started)
    rows = batch_timing_rows(sample) if by == "batch" else sample
    batch = []
    for _ in range(3 if by == "one_row" else 2):
        started = time.perf_counter()
        predictor.predict(rows)
        batch.append(time.perf_counter() - started)
    return Timing(one_row_ms=statistics.median(one_row) * 1000.0 if one_row else None, batch_ms=min(batch) * 1000.0,
                  batch_rows=len(rows))


def batch_timing_rows(sample: pd.DataFrame) -> pd.DataFrame:
    """The sample repeated up to ``BATCH_TIMING_ROWS`` rows: a call the size of a partition's."""
    repeats = max(1, -(-BATCH_TIMING_ROWS // len(sample)))
    return pd.concat([sample] * repeats, ignore_index=True).iloc[:max(BATCH_TIMING_ROWS, len(sample))]
