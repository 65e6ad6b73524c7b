"""Seconds per stage of a batch run, as ``ScoringResult.stages`` reports them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    """Add the block's wall time to ``seconds[stage]``, failed or not (a stage run twice counts twice)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started


def add_seconds(total: dict[str, float], part: dict[str, float]) -> dict[str, float]:
    for stage, seconds in part.items():
        total[stage] = total.get(stage, 0.0) + seconds
    return total
