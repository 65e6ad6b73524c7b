"""Batch scoring, end to end: resolve -> validate -> score -> write -> record.

The model reference is pinned to one version on the driver; Dask maps ``process_partition``
over the input's partitions, with the model loaded once per worker. Output is committed only
when rows in = rows scored + rows rejected.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from datetime import datetime, timezone
from pathlib import Path

from pipelines.monitoring.batch import record_batch_run
from pipelines.scoring.checks import Checks, build_checks
from pipelines.scoring.drift import add_histograms, drift_report
from pipelines.scoring.errors import DataValidationError, InputError, RowCountMismatchError
from pipelines.scoring.io import (
    REJECTS_DIR, commit_output, discard_staging, first_line, load_batch, staging_path,
)
from pipelines.scoring.schema import (
    ExpectationFailure, PartitionStats, ResolvedModel, ScoringRequest, ScoringResult, StageSeconds, ValidationSummary,
)
from pipelines.scoring.partition import ModelPlugin, PartitionJob, check_partition, process_partition
from pipelines.scoring.timing import add_seconds, timed
from pipelines.scoring.validation import build_suite, suite_for
from registry.card import ModelCard
from registry.expectations import list_expectations
from registry import scoring_runs
from registry.predictors import load_predictor
from registry.runtimes import NATIVE, RuntimeChoice
from registry.settings import Settings, get_settings

logger = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


def resolve_model(ref: str, settings: Settings | None = None) -> ResolvedModel:
    """Pin ``ref`` (an alias follows its target now) to one concrete version for the run."""
    from registry.catalog import model_id_of
    from registry.refs import parse_ref
    from registry.store import mlflow_client, resolve_version

    client = mlflow_client(settings or get_settings())
    version = resolve_version(parse_ref(ref), client)
    logged = client.get_logged_model(model_id_of(version))
    return ResolvedModel(ref=ref, name=version.name, version=int(version.version),
                         model_id=logged.model_id, artifact_uri=logged.artifact_location)


def new_run_id(model: ResolvedModel) -> str:
    return f"{model.name}-v{model.version}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"


def _model_facts(
    model: ResolvedModel, request: ScoringRequest, settings: Settings, *, preload: bool, choose: bool,
    seconds: dict[str, float],
) -> tuple[ModelCard, Checks, RuntimeChoice | None]:
    """The version's card, the checks its rows must pass, and the runtime every worker scores with
    (None: not chosen, for a validation-only pass)."""
    from registry.catalog import download_model_dir
    from registry.refs import ModelRef

    with tempfile.TemporaryDirectory(prefix="modelyard-facts-") as scratch:
        native = None
        with timed(seconds, "model_facts"):
            model_dir = download_model_dir(ModelRef(model.name, model.version), Path(scratch), settings)
            attached = [expectation.config for expectation in list_expectations(model.name, settings)]
            checks = build_checks(model_dir, range_tolerance=request.range_tolerance,
                                  extra=attached + request.extra_expectations)
            if preload:
                # A local cluster's workers are forked from this process: loading both here first
                # fails a broken model or expectation before any work, and the workers inherit the
                # imported libraries. A warm cluster's workers have them already; there the same
                # checks run on the workers before the first partition (``_prepare_workers``).
                native = load_predictor(model_dir)
                suite_for(checks)
        choice = _batch_runtime(model, model_dir, native, seconds) if choose else None
        return ModelCard.read(model_dir), checks, choice


# A version's batch runtime, as chosen by the first run this process drove: timing it costs about a
# second (the model on a partition-sized call, natively and compiled), and a warm cluster's worker
# drives every run; the same version then keeps the same runtime from run to run.
_CHOSEN: dict[str, RuntimeChoice] = {}


def _batch_runtime(model: ResolvedModel, model_dir: Path, native, seconds: dict[str, float]) -> RuntimeChoice:
    """Chosen once for the run, here: each worker timing its own choice picked differently under
    load (ONNX Runtime and scikit-learn score a forest's batch at nearly the same speed), and a
    run's partitions would then be scored by different runtimes."""
    from registry.compiling import choose_for_version

    choice = _CHOSEN.get(model.artifact_uri)
    if choice is None:
        with timed(seconds, "choose_runtime"):
            _, choice = choose_for_version(native or load_predictor(model_dir), model_dir, by="batch")
        _CHOSEN[model.artifact_uri] = choice
    else:
        seconds["choose_runtime"] = 0.0  # chosen by an earlier run in this process
    logger.info("scoring %s/%s with %s", model.name, model.version, choice.summary)
    return choice


def _plan(request: ScoringRequest, model: ResolvedModel, run_id: str, settings: Settings, *,
          seconds: dict[str, float], preload: bool = True, choose: bool = True):
    """The lazy input and the job every partition runs; schema problems fail here, before any work."""
    card, checks, choice = _model_facts(model, request, settings, preload=preload, choose=choose, seconds=seconds)
    with timed(seconds, "load_batch"):
        frame = load_batch(request.input_path, settings)
    missing = [name for name in checks.names if name not in set(frame.columns)]
    if missing:
        raise DataValidationError(f"input {request.input_path} lacks columns the model needs: {', '.join(missing)}")
    passthrough = request.key_columns if request.key_columns is not None else [
        column for column in frame.columns if column not in set(checks.names)]
    unknown = [column for column in passthrough if column not in set(frame.columns)]
    if unknown:
        raise InputError(f"key columns not in input {request.input_path}: {', '.join(unknown)}")
    job = PartitionJob(
        run_id=run_id, input_path=request.input_path, model_name=model.name, model_version=model.version,
        artifact_uri=model.artifact_uri,
        task=card.task, checks=checks, passthrough=passthrough, policy=request.policy,
        staging=staging_path(request.output_path, run_id), output_format=request.output_format,
        settings=settings, runtime=choice.runtime if choice else NATIVE,
    )
    return frame, job, choice


def _map_on_cluster(client, settings: Settings, frame, job: PartitionJob, work, progress: Progress | None,
                    seconds: dict[str, float]) -> list[PartitionStats]:
    """Open the run's cluster (or take the caller's client), map ``work`` over the partitions, close it."""
    with ExitStack() as stack:
        with timed(seconds, "open_cluster"):
            dask = stack.enter_context(_client_for(client, settings))
        with timed(seconds, "map_partitions"):
            stats = _map_partitions(dask, frame, job, work, progress)
        closing = time.perf_counter()
    seconds["close_cluster"] = time.perf_counter() - closing
    return stats


def _map_partitions(client, frame, job: PartitionJob, work, progress: Progress | None) -> list[PartitionStats]:
    from dask import delayed
    from distributed import as_completed

    _prepare_workers(client, job)
    parts = frame.to_delayed()
    futures = client.compute([delayed(work)(part, index, job) for index, part in enumerate(parts)])
    done = []
    try:
        for future in as_completed(futures):
            done.append(future.result())
            if progress:
                progress(len(done), len(futures))
    except Exception as error:
        client.cancel(futures)
        if isinstance(error, (InputError, DataValidationError)):
            raise
        raise InputError(f"input {job.input_path} could not be processed: {first_line(error)}") from error
    return sorted(done, key=lambda stats: stats.index)


def _prepare_workers(client, job: PartitionJob) -> None:
    """Every worker loads the model (a broken one fails the run here, with the worker's error),
    and one builds the validation suite (a broken expectation fails here too)."""
    client.register_plugin(ModelPlugin(job.plugin_name, job.artifact_uri, job.settings, job.runtime))
    client.submit(build_suite, job.checks, pure=False).result()


def _summary(stats: list[PartitionStats], checks: Checks) -> ValidationSummary:
    merged: dict[str, ExpectationFailure] = {}
    for part in stats:
        for key, failure in part.failures.items():
            if key in merged:
                merged[key].unexpected += failure.unexpected
                merged[key].examples = (merged[key].examples + failure.examples)[:3]
            else:
                merged[key] = failure.model_copy()
    expectations = sum((not f.nullable) + (f.min is not None or f.max is not None) + bool(f.categories)
                       for f in checks.features) + len(checks.extra)
    return ValidationSummary(success=not merged, expectations=expectations, failures=list(merged.values()))


def _prediction_summary(stats: list[PartitionStats], task: str) -> dict:
    if task == "classification":
        counts: dict[str, int] = {}
        for part in stats:
            for label, count in part.prediction_counts.items():
                counts[label] = counts.get(label, 0) + count
        total = sum(counts.values()) or 1
        return {"class_counts": counts, "class_shares": {k: v / total for k, v in counts.items()}}
    n = sum(part.prediction_moments[0] for part in stats)
    if not n:
        return {"count": 0}
    total = sum(part.prediction_moments[1] for part in stats)
    squares = sum(part.prediction_moments[2] for part in stats)
    mean = total / n
    lows = [p.prediction_range[0] for p in stats if p.prediction_range[0] is not None]
    highs = [p.prediction_range[1] for p in stats if p.prediction_range[1] is not None]
    return {"count": int(n), "mean": mean, "std": max(squares / n - mean**2, 0.0) ** 0.5,
            "min": min(lows), "max": max(highs)}


def _client_for(client, settings: Settings):
    from pipelines.scoring.cluster import dask_client

    return nullcontext(client) if client is not None else dask_client(settings.dask_scheduler)


def _forks_workers(client, settings: Settings) -> bool:
    """Whether the run starts a local cluster, whose workers are forked from this process."""
    return client is None and settings.dask_scheduler is None


def validate_input(
    request: ScoringRequest, model: ResolvedModel | None = None, *, settings: Settings | None = None,
    client=None, progress: Progress | None = None,
) -> ValidationSummary:
    """A validation-only pass; with the ``fail`` policy, an invalid input raises before scoring."""
    settings = settings or get_settings()
    model = model or resolve_model(request.model_ref, settings)
    frame, job, _ = _plan(request, model, request.run_id or "validation", settings, seconds={},
                       preload=_forks_workers(client, settings), choose=False)
    with _client_for(client, settings) as dask:
        stats = _map_partitions(dask, frame, job, check_partition, progress)
    summary = _summary(stats, job.checks)
    if request.policy == "fail" and not summary.success:
        raise DataValidationError(f"input {request.input_path} fails validation: {summary.describe()}")
    return summary


def score_batch(
    request: ScoringRequest, model: ResolvedModel | None = None, *, settings: Settings | None = None,
    client=None, progress: Progress | None = None,
) -> ScoringResult:
    """Score the input into the output folder, or fail with nothing committed; the result says
    where the time went (``ScoringResult.stages``)."""
    settings = settings or get_settings()
    seconds: dict[str, float] = {}
    if model is None:
        with timed(seconds, "resolve_model"):
            model = resolve_model(request.model_ref, settings)
    run_id = request.run_id or new_run_id(model)
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    with timed(seconds, "record_started"):
        scoring_runs.record_started(run_id, model_name=model.name, model_version=model.version,
                                    association=request.association, input_path=request.input_path,
                                    output_path=request.output_path, policy=request.policy, settings=settings)
    staging = staging_path(request.output_path, run_id)
    try:
        frame, job, choice = _plan(request, model, run_id, settings, seconds=seconds,
                           preload=_forks_workers(client, settings))
        with timed(seconds, "discard_staging"):
            discard_staging(staging, settings)
        stats = _map_on_cluster(client, settings, frame, job, process_partition, progress, seconds)
        result = _result(request, model, run_id, job, stats, started, time.perf_counter() - clock, seconds, choice)
        record = result.model_dump(mode="json")
        with timed(result.stages.driver, "commit_output"):
            commit_output(staging, request.output_path, record, settings)
    except BaseException as error:
        discard_staging(staging, settings)
        scoring_runs.record_failed(run_id, str(error), actor=request.requested_by or settings.user,
                                   settings=settings)
        raise
    with timed(result.stages.driver, "record_finished"):
        scoring_runs.record_finished(
            result.run_id, status=result.status, rows_in=result.rows_in, rows_scored=result.rows_scored,
            rows_rejected=result.rows_rejected, duration_s=result.duration_s, rows_per_s=result.rows_per_s,
            validation=result.validation.model_dump(mode="json"), prediction_summary=result.prediction_summary,
            drift=result.drift, output_path=result.output_path, actor=request.requested_by or settings.user,
            settings=settings)
    record_batch_run(settings, result, actor=request.requested_by or settings.user)
    return result


def _result(request, model, run_id, job, stats, started, duration, seconds, choice) -> ScoringResult:
    validation = _summary(stats, job.checks)
    rows_in = sum(part.rows_in for part in stats)
    scored = sum(part.rows_scored for part in stats)
    rejected = sum(part.rows_rejected for part in stats)
    if rows_in == 0:
        raise InputError(f"input {request.input_path} has no rows")
    if request.policy == "fail" and not validation.success:
        raise DataValidationError(f"input {request.input_path} fails validation: {validation.describe()}")
    if rows_in != scored + rejected:
        raise RowCountMismatchError(f"rows in ({rows_in}) != rows scored ({scored}) + rows rejected ({rejected})")
    observed: dict[str, list[int]] = {}
    for part in stats:
        add_histograms(observed, part.histograms)
    return ScoringResult(
        run_id=run_id, status="succeeded", model_name=model.name, model_version=model.version,
        input_path=request.input_path, output_path=request.output_path,
        rejects_path=f"{request.output_path.rstrip('/')}/{REJECTS_DIR}" if rejected else None,
        policy=request.policy, rows_in=rows_in, rows_scored=scored, rows_rejected=rejected,
        started_at=started, duration_s=duration, rows_per_s=rows_in / duration if duration else 0.0,
        validation=validation, prediction_summary=_prediction_summary(stats, job.task),
        drift=drift_report(observed, job.checks),
        stages=StageSeconds(driver=seconds, partitions=_partition_seconds(stats)),
        runtime=" + ".join(sorted({part.runtime for part in stats if part.runtime})) or NATIVE, runtime_choice=choice,
    )


def _partition_seconds(stats: list[PartitionStats]) -> dict[str, float]:
    total: dict[str, float] = {}
    for part in stats:
        add_seconds(total, part.stage_seconds)
    return total
