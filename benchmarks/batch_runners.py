"""What each measured process runs: ``score_batch`` (cold or on the warm cluster), baseline (a) the
pandas script, and the bare model. ``batch_scoring.py --child RUNNER`` calls ``child_main``; the
outcome goes back to the parent as JSON. Modelyard's stages are the ones its result reports
(``ScoringResult.stages``), and on a cold run's local cluster Dask's own task stream.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from benchmarks.batch_data import FEATURES, KEY

# The result's stages as the report names them.
DRIVER_STAGES = {
    "resolve_model": "resolve model", "record_started": "record run started",
    "model_facts": "model facts: download, checks, load, GX suite", "choose_runtime": "choose the runtime (timed once)",
    "load_batch": "plan the Dask frame",
    "discard_staging": "discard staging", "open_cluster": "start local Dask cluster",
    "map_partitions": "map partitions (wall)", "close_cluster": "stop local Dask cluster",
    "commit_output": "commit output", "record_finished": "record run finished",
}
PARTITION_STAGES = {
    "validate_batch": "validate (types + GX)", "coerce_types": "validate: type coercion (copy, to_numeric)",
    "run_suite": "validate: GX suite run", "score_partition": "predict", "write_part": "write Parquet",
    "histograms": "drift histograms", "summarise_predictions": "summarise predictions",
    "load_predictor": "load model on worker",
}
HANDED_OVER = "run driven inside the warm cluster (all its stages)"
_task_streams: list = []  # the cold run's scheduler's TaskStreamPlugin, added by ``dask_setup``


def run_modelyard(spec: dict) -> dict:
    """``score_batch`` as ``modelyard score`` runs it, policy ``fail``, default range checks: on a
    local cluster of its own (cold), or on the warm cluster at ``spec["scheduler"]``. The
    libraries a run needs beyond these imports load during the run and count in its stages."""
    started = time.perf_counter()
    from pipelines.scoring import ScoringRequest, score_batch
    from registry.settings import Settings

    warm = bool(spec.get("scheduler"))
    if not warm:  # the driver runs here: its modules, and a scheduler that keeps Dask's task stream
        import dask

        import pipelines.scoring.batch  # noqa: F401

        dask.config.set({"distributed.scheduler.preload": [__name__]})
    imported = time.perf_counter()
    settings = Settings(home=spec["home"], dask_scheduler=spec.get("scheduler"))
    handing_over = time.perf_counter()
    result = score_batch(ScoringRequest(model_ref=spec["model_ref"], input_path=spec["input"],
                                        output_path=spec["output"], policy="fail"), settings=settings)
    finished = time.perf_counter()
    stages = _handed_over(finished - handing_over) if warm else _cold_stages(result.stages)
    return {"import_s": imported - started, "work_s": finished - imported, "rows": result.rows_in,
            "rows_scored": result.rows_scored, "expectations": result.validation.expectations,
            "stages": stages}


def _handed_over(seconds: float) -> dict:
    """A warm run's driver runs inside the cluster: here, only handing it over is seen."""
    return {"driver": {HANDED_OVER: seconds}, "workers": {}, "task_stream": {}, "worker_processes": 0}


def _cold_stages(stages) -> dict:
    """The result's stages under the report's names, and Dask's task stream summed per task and action."""
    from dask.utils import key_split

    task_stream, workers = {}, set()
    for stream in _task_streams:
        for task in stream.buffer:
            workers.add(task["worker"])
            for step in task["startstops"]:
                name = f"{key_split(task['key'])} ({step['action']})"
                task_stream[name] = task_stream.get(name, 0.0) + step["stop"] - step["start"]
    return {"driver": {DRIVER_STAGES.get(k, k): v for k, v in stages.driver.items()},
            "workers": {PARTITION_STAGES.get(k, k): v for k, v in stages.partitions.items()},
            "task_stream": task_stream, "worker_processes": len(workers)}


def dask_setup(scheduler) -> None:
    """Dask's preload hook (``distributed.scheduler.preload``): the cold run's local scheduler keeps
    its task stream (what ``distributed.get_task_stream`` reads) for ``_cold_stages``."""
    from distributed.diagnostics.task_stream import TaskStreamPlugin

    _task_streams.append(TaskStreamPlugin(scheduler))
    scheduler.add_plugin(_task_streams[-1])


def run_limit(spec: dict) -> dict:
    """The model's own speed on this machine: ``predict_proba`` on an in-memory float32 array
    (the type a forest predicts in), one core, nothing else."""
    import mlflow.sklearn
    import numpy as np
    import pyarrow.parquet as pq

    model = mlflow.sklearn.load_model(spec["model_dir"])
    tables, rows = [], 0
    for path in sorted(Path(spec["input"]).glob("*.parquet")):
        tables.append(pq.read_table(path, columns=FEATURES).to_pandas().to_numpy(dtype=np.float32))
        rows += len(tables[-1])
        if rows >= spec["rows"]:
            break
    matrix = np.concatenate(tables)[: spec["rows"]]
    model.predict_proba(matrix[:1000])  # warm-up
    clock = time.perf_counter()
    model.predict_proba(matrix)
    seconds = time.perf_counter() - clock
    return {"rows": len(matrix), "predict_s": seconds, "import_s": 0.0, "work_s": seconds}


def run_pandas(spec: dict) -> dict:
    """Baseline (a), the script a data scientist writes: read every file, ``predict_proba`` of the
    model MLflow loads on the whole frame, the same columns Modelyard writes, one output file."""
    started = time.perf_counter()
    import mlflow.sklearn
    import pandas as pd
    import sklearn.ensemble  # noqa: F401  (imports are timed apart from the work)
    import sklearn.linear_model  # noqa: F401

    marks = [("imports", time.perf_counter())]
    model = mlflow.sklearn.load_model(spec["model_dir"])
    marks.append(("load model", time.perf_counter()))
    frame = pd.read_parquet(spec["input"])
    marks.append(("read Parquet", time.perf_counter()))
    probabilities = model.predict_proba(frame[FEATURES])
    scored = pd.DataFrame({KEY: frame[KEY], "prediction": model.classes_[probabilities.argmax(axis=1)],
                           **{f"probability_{label}": probabilities[:, index]
                              for index, label in enumerate(model.classes_)}})
    marks.append(("predict", time.perf_counter()))
    scored.to_parquet(spec["output"], index=False)
    marks.append(("write Parquet", time.perf_counter()))
    stages = {stage: end - start for (stage, end), (_, start) in zip(marks, [("", started), *marks])}
    return {"import_s": stages.pop("imports"), "work_s": marks[-1][1] - marks[0][1], "rows": len(scored),
            "stages": stages}


CHILDREN = {"modelyard": run_modelyard, "pandas": run_pandas, "limit": run_limit}


def child_main(runner: str, spec: dict, result_path: Path) -> None:
    began = time.time()
    outcome = CHILDREN[runner](spec)
    outcome.update(began_epoch=began, ended_epoch=time.time())
    result_path.write_text(json.dumps(outcome))
