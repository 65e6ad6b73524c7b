"""The work Dask maps over partitions: validate, score, write; and the model, once per worker.

``process_partition`` composes the pandas stage functions; it runs unchanged on a Dask worker,
in a thread, or in the test process.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
from distributed.diagnostics.plugin import WorkerPlugin
from pydantic import BaseModel

from pipelines.scoring.checks import Checks
from pipelines.scoring.drift import histograms
from pipelines.scoring.io import REJECTS_DIR, write_part
from pipelines.scoring.schema import PartitionStats
from registry.scoring_options import ScoringPolicy
from pipelines.scoring.scoring import score_partition, summarise_predictions
from pipelines.scoring.timing import timed
from pipelines.scoring.validation import validate_batch
from registry.predictors import Predictor, load_predictor
from registry.runtimes import NATIVE
from registry.settings import Settings

logger = logging.getLogger(__name__)


class PartitionJob(BaseModel):
    """Everything a worker needs besides the data; small enough to ship with every task."""

    run_id: str
    input_path: str
    model_name: str
    model_version: int
    artifact_uri: str
    task: str
    checks: Checks
    passthrough: list[str]
    policy: ScoringPolicy
    staging: str
    output_format: str
    settings: Settings
    runtime: str = NATIVE  # what every worker scores with: the driver chose it once (``batch._batch_runtime``)

    @property
    def plugin_name(self) -> str:
        return f"modelyard-model-{self.model_name}-{self.model_version}-{self.runtime}"


def download_predictor(artifact_uri: str, settings: Settings, runtime: str = NATIVE) -> Predictor:
    """Download and load the model in the runtime the run's driver chose (``registry.compiling``;
    the predictor's ``runtime`` names what it really is). The native flavors load into memory, so
    their files go; a generic pyfunc model may read its files later, so those stay."""
    import mlflow.artifacts

    from registry.compiling import build_chosen
    from registry.store import mlflow_client

    mlflow_client(settings)  # S3 endpoint and URIs for the download
    target = tempfile.mkdtemp(prefix="modelyard-model-")
    model_dir = Path(mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, dst_path=target))
    predictor = build_chosen(load_predictor(model_dir), model_dir, runtime)
    if predictor.card.flavor != "mlflow":
        shutil.rmtree(target, ignore_errors=True)
    return predictor


class ModelPlugin(WorkerPlugin):
    """A Dask worker plugin that loads the model once per worker, not once per partition."""

    def __init__(self, name: str, artifact_uri: str, settings: Settings, runtime: str = NATIVE):
        self.name = name
        self.artifact_uri = artifact_uri
        self.settings = settings
        self.runtime = runtime
        self.predictor: Predictor | None = None
        self.load_s = 0.0  # not yet counted by a partition

    def setup(self, worker) -> None:
        from registry.frames import python_string_storage

        python_string_storage()  # a worker may run several partitions on threads at once
        started = time.perf_counter()
        self.predictor = download_predictor(self.artifact_uri, self.settings, self.runtime)
        self.load_s = time.perf_counter() - started

    def take_load_seconds(self) -> float:
        """How long loading took, told once: the worker's first partition counts it."""
        seconds, self.load_s = self.load_s, 0.0
        return seconds

    def teardown(self, worker) -> None:
        self.predictor = None


def predictor_for(job: PartitionJob, seconds: dict[str, float]) -> Predictor:
    """The worker's loaded model; outside a worker (tests, plain threads), load it here. The load's
    time goes to ``seconds["load_predictor"]``."""
    try:
        from distributed import get_worker

        plugin = get_worker().plugins.get(job.plugin_name)
    except ValueError:
        plugin = None
    if plugin is not None and plugin.predictor is not None:
        seconds["load_predictor"] = seconds.get("load_predictor", 0.0) + plugin.take_load_seconds()
        return plugin.predictor
    with timed(seconds, "load_predictor"):
        return download_predictor(job.artifact_uri, job.settings, job.runtime)


def process_partition(frame: pd.DataFrame, index: int, job: PartitionJob) -> PartitionStats:
    """Validate, score and write one partition; return its counts and stage seconds for the run's totals."""
    seconds: dict[str, float] = {}
    with timed(seconds, "validate_batch"):
        outcome = validate_batch(frame, job.checks)
    stats = PartitionStats(
        index=index, rows_in=len(frame), rows_scored=0, rows_rejected=len(outcome.rejected),
        failures={f"{f.column}:{f.expectation}": f for f in outcome.failures},
    )
    if job.policy == "fail" and len(outcome.rejected):
        stats.stage_seconds = seconds | outcome.seconds
        return stats  # the driver fails the run; nothing of this partition is written
    stamp = {"model_name": job.model_name, "model_version": job.model_version,
             "run_id": job.run_id, "scored_at": pd.Timestamp.now(tz="UTC")}
    predictor = predictor_for(job, seconds)
    stats.runtime = predictor.runtime
    with timed(seconds, "score_partition"):
        scored = score_partition(outcome.valid, predictor, job.passthrough, stamp)
    with timed(seconds, "write_part"):
        write_part(scored, job.staging, index, job.output_format, job.settings)
        if len(outcome.rejected):
            rejected = outcome.rejected.assign(run_id=job.run_id)
            write_part(rejected, f"{job.staging}/{REJECTS_DIR}", index, job.output_format, job.settings)
    stats.rows_scored = len(scored)
    with timed(seconds, "histograms"):
        stats.histograms = histograms(outcome.valid, job.checks)
    with timed(seconds, "summarise_predictions"):
        stats.prediction_counts, stats.prediction_moments, stats.prediction_range = summarise_predictions(
            scored, job.task)
    stats.stage_seconds = seconds | outcome.seconds
    return stats


def check_partition(frame: pd.DataFrame, index: int, job: PartitionJob) -> PartitionStats:
    """Validation only: how many rows of this partition would be rejected, and why."""
    outcome = validate_batch(frame, job.checks)
    return PartitionStats(
        index=index, rows_in=len(frame), rows_scored=0, rows_rejected=len(outcome.rejected),
        failures={f"{f.column}:{f.expectation}": f for f in outcome.failures},
    )
