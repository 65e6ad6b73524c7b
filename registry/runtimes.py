"""What a deploy measured to choose a version's runtime (``registry.compiling`` measures it): kept
on the deployment's row, read by the ModelDoc, the page and the CLI. Light (pydantic only)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, computed_field

NATIVE = "native"
RuntimeRequest = Literal["auto", "native"]  # auto: the fastest that passes parity; native: never compiled
RUNTIME_REQUESTS: tuple[str, ...] = get_args(RuntimeRequest)
ChosenBy = Literal["one_row", "batch"]  # what must be faster: online answers, or a batch's model calls
TOLERANCE = 1e-5


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Parity(_Record):
    """How a candidate's answers compare with the native model's on ``rows`` rows."""

    rows: int
    labels_differing: int  # rows whose predicted class differs (always 0 for regression)
    max_difference: float  # largest probability difference, or relative value difference
    tolerance: float
    classification: bool = True

    @computed_field
    @property
    def passed(self) -> bool:
        return self.labels_differing == 0 and self.max_difference <= self.tolerance


class Timing(_Record):
    """Median milliseconds of a one-row predict (None: not measured, a batch choice), and the
    fastest of three predicts over the whole sample."""

    one_row_ms: float | None
    batch_ms: float
    batch_rows: int


class Candidate(_Record):
    """One compiled runtime as measured; ``error`` when it could not convert this model."""

    runtime: str
    timing: Timing | None = None
    parity: Parity | None = None
    error: str | None = None


class RuntimeChoice(_Record):
    """The runtime a version serves with, and the measurements that chose it (kept on the
    deployment, shown by the ModelDoc, the page and the CLI)."""

    runtime: str  # NATIVE or the chosen candidate's runtime
    native: Timing | None  # None: nothing was measured (``reason`` says why)
    candidates: tuple[Candidate, ...] = ()
    requested: RuntimeRequest = "auto"
    reason: str | None = None
    by: ChosenBy = "one_row"

    @property
    def chosen(self) -> Candidate | None:
        return next((candidate for candidate in self.candidates if candidate.runtime == self.runtime), None)

    @computed_field
    @property
    def one_row_speedup(self) -> float | None:
        chosen = self.chosen
        if not chosen:
            return 1.0
        return self.native.one_row_ms / chosen.timing.one_row_ms if chosen.timing.one_row_ms else None

    @computed_field
    @property
    def batch_speedup(self) -> float:
        chosen = self.chosen
        return self.native.batch_ms / chosen.timing.batch_ms if chosen else 1.0

    @computed_field
    @property
    def summary(self) -> str:
        """One line for a table or a log: what serves, how much faster, how close to the native model."""
        chosen = self.chosen
        if chosen is not None:
            parity = chosen.parity
            compared = f"labels identical on {parity.rows:,} rows" if parity.classification \
                else f"values of {parity.rows:,} rows"
            one_row = f"one row {self.one_row_speedup:.1f}x faster ({self.native.one_row_ms:.3g} ms to " \
                f"{chosen.timing.one_row_ms:.3g} ms), " if self.one_row_speedup is not None else ""
            return (f"{self.runtime}: {one_row}batch {self.batch_speedup:.1f}x faster "
                    f"({self.native.batch_ms:.3g} ms to {chosen.timing.batch_ms:.3g} ms for {chosen.timing.batch_rows:,} "
                    f"rows); {compared}, largest difference {parity.max_difference:.1e} "
                    f"(tolerance {parity.tolerance:.0e})")
        if self.reason:
            return f"native: {self.reason}"
        if self.requested == NATIVE:
            return "native: asked for (runtime native)"
        reasons = [f"{candidate.runtime}: {_why_not(candidate, self.native)}" for candidate in self.candidates]
        return "native" + (f" ({'; '.join(reasons)})" if reasons else ": no compiled runtime for this flavor")


def _why_not(candidate: Candidate, native: Timing) -> str:
    if candidate.error:
        return candidate.error
    if not candidate.parity.passed:
        parity = candidate.parity
        return (f"failed parity ({parity.labels_differing} of {parity.rows:,} labels differ, largest difference "
                f"{parity.max_difference:.1e} > {parity.tolerance:.0e})")
    if candidate.timing.one_row_ms is None:
        return f"not faster on a batch ({candidate.timing.batch_ms:.3g} vs {native.batch_ms:.3g} ms)"
    return f"not faster on one row ({candidate.timing.one_row_ms:.3g} vs {native.one_row_ms:.3g} ms)"
