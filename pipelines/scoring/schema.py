"""Typed requests and results of batch scoring, shared by the CLI, DAG tasks and the UI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from registry.runtimes import RuntimeChoice
from registry.scoring_options import OutputFormat, ScoringPolicy


class ScoringRequest(BaseModel):
    model_ref: str
    input_path: str
    output_path: str
    policy: ScoringPolicy = "fail"
    output_format: OutputFormat = "parquet"
    run_id: str | None = Field(default=None, description="Re-using a run id replaces its output.")
    key_columns: list[str] | None = Field(
        default=None, description="Columns passed through; default: every non-feature column."
    )
    association: str | None = None
    range_tolerance: float | None = Field(
        default=0.25, description="Allowed overshoot of the training range, as a share of it."
    )
    extra_expectations: list[dict[str, Any]] = []
    requested_by: str | None = Field(default=None, description="Who asked for the run (events name them).")


class ResolvedModel(BaseModel):
    """A reference pinned to one version for the whole run."""

    ref: str
    name: str
    version: int
    model_id: str
    artifact_uri: str

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


class ExpectationFailure(BaseModel):
    expectation: str
    column: str | None
    unexpected: int
    examples: list[Any] = []

    def describe(self) -> str:
        where = f"{self.column}: " if self.column else ""
        return f"{where}{self.expectation} ({self.unexpected} rows)"


class ValidationSummary(BaseModel):
    success: bool
    expectations: int
    failures: list[ExpectationFailure] = []

    def describe(self) -> str:
        return "; ".join(failure.describe() for failure in self.failures)


class PartitionStats(BaseModel):
    """What one partition contributed; summed on the driver."""

    index: int
    rows_in: int
    rows_scored: int
    rows_rejected: int
    failures: dict[str, ExpectationFailure] = {}
    histograms: dict[str, list[int]] = {}
    prediction_counts: dict[str, int] = {}
    prediction_moments: list[float] = [0.0, 0.0, 0.0]  # count, sum, sum of squares
    prediction_range: list[float | None] = [None, None]
    stage_seconds: dict[str, float] = {}
    runtime: str | None = None  # what scored it (None: nothing was scored)


class StageSeconds(BaseModel):
    """Where a run's time went: the driver's stages in wall seconds, in the order they ran, and the
    partitions' stages summed over every partition (worker-seconds; validate_batch includes
    coerce_types and run_suite). The output's ``_run.json`` is written before commit_output and
    record_finished are known."""

    driver: dict[str, float] = {}
    partitions: dict[str, float] = {}


class ScoringResult(BaseModel):
    run_id: str
    status: Literal["succeeded", "failed"]
    model_name: str
    model_version: int
    input_path: str
    output_path: str
    rejects_path: str | None
    policy: ScoringPolicy
    rows_in: int
    rows_scored: int
    rows_rejected: int
    started_at: datetime
    duration_s: float
    rows_per_s: float
    validation: ValidationSummary
    prediction_summary: dict[str, Any]
    drift: dict[str, float]
    stages: StageSeconds = Field(default_factory=StageSeconds)
    runtime: str = "native"  # what scored the rows: the model's library or a compiled runtime (registry.compiling)
    runtime_choice: RuntimeChoice | None = None  # how the driver chose it for the whole run, measured
