"""Batch scoring benchmark: Modelyard's ``score_batch`` beside a pandas script and ``mlflow models predict``.

End to end (read, validate, score, write) on a generated Parquet data set of N rows x 20 numeric
features, for a RandomForest and a LogisticRegression registered in a throwaway Modelyard home.
Every measured run is its own process; a background thread polls the peak RSS of its whole
process tree (Dask workers included) with psutil. Figures and the command: benchmarks/README.md.

    .venv/bin/python benchmarks/batch_scoring.py --rows 5000000 --big-rows 20000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FEATURES = [f"f{index:02d}" for index in range(20)]
KEY = "row_id"
SEED = 20260303
TRAIN_STREAM, VALID_STREAM = 1_000_001, 1_000_002
# Issue #11's targets, each a ratio measured side by side in one run.
TARGETS = {"cold": 1.25, "warm": 1.5, "warm_big": 1.7, "model_limit": 0.60, "mlflow": 1.6}
MEMORY_TOLERANCE = 1.25  # "independent of input size": the big run's peak within 25 % of the small one's
MODEL_KINDS = {"rf": "RandomForestClassifier", "lr": "LogisticRegression"}
RUNNERS = {"modelyard": "modelyard, cold", "warm": "modelyard, warm cluster", "pandas": "(a) pandas script",
           "mlflow": "(b) mlflow CLI", "limit": "bare predict_proba, 1 core"}


# --- the data set --------------------------------------------------------------------------------

def _feature_law():
    """Fixed means, scales and label weights: the same data set for every run and machine."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    return rng.uniform(-5, 5, 20), rng.uniform(0.5, 3.0, 20), rng.normal(0, 1, 10)


def make_rows(rows: int, stream: int, with_label: bool = False):
    """``rows`` feature rows from random stream ``stream``; the label is a known function of them."""
    import numpy as np
    import pandas as pd

    means, scales, weights = _feature_law()
    rng = np.random.default_rng([SEED, stream])
    z = rng.standard_normal((rows, len(FEATURES)))
    frame = pd.DataFrame(means + scales * z, columns=FEATURES)
    if not with_label:
        return frame, None
    score = (z[:, :10] @ weights + 1.2 * z[:, 0] * z[:, 1] - 0.8 * np.abs(z[:, 2])
             + 0.6 * np.sin(2 * z[:, 3]) + rng.normal(0, 0.5, rows))
    return frame, pd.Series((score > 0).astype("int64"), name="label")


def write_dataset(folder: Path, rows: int, rows_per_file: int) -> list[Path]:
    """Parquet files of ``rows_per_file`` rows (one Dask partition each) with a ``row_id`` key."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    files = []
    for index, start in enumerate(range(0, rows, rows_per_file)):
        count = min(rows_per_file, rows - start)
        features, _ = make_rows(count, index)
        table = pa.Table.from_pandas(features, preserve_index=False)
        table = table.add_column(0, KEY, pa.array(np.arange(start, start + count, dtype="int64")))
        files.append(folder / f"part-{index:05d}.parquet")
        pq.write_table(table, files[-1])
    return files


def write_csv_copy(files: list[Path], target: Path, rows: int) -> int:
    """The first ``rows`` rows, features only, as one CSV (what ``mlflow models predict`` reads)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    written = 0
    with pacsv.CSVWriter(target, pq.read_schema(files[0]).remove(0)) as writer:
        for path in files:
            if written >= rows:
                break
            table = pq.read_table(path, columns=FEATURES).slice(0, rows - written)
            writer.write_table(table)
            written += table.num_rows
    return written


# --- models --------------------------------------------------------------------------------------

def _estimator(kind: str):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if kind == "rf":
        return RandomForestClassifier(n_estimators=50, max_depth=8, n_jobs=1, random_state=SEED)
    return LogisticRegression(max_iter=1000)


def register_model(kind: str, train_rows: int, settings, name: str | None = None) -> str:
    """Fit one model on a sample of the same law and register it (as ``bench_<kind>`` unless
    ``name`` is given) with training and validation sets."""
    import skops.io

    from registry.card import ModelCard
    from registry.registration import Dataset, ModelPackage, register_package

    x_train, y_train = make_rows(train_rows, TRAIN_STREAM, with_label=True)
    x_valid, y_valid = make_rows(max(train_rows // 4, 1000), VALID_STREAM, with_label=True)
    estimator = _estimator(kind).fit(x_train, y_train)
    card = ModelCard(
        flavor="sklearn", task="classification", feature_names=FEATURES,
        classes=[int(label) for label in estimator.classes_], target="label", origin="trained",
        source="benchmarks/batch_scoring.py synthetic data",
        pipeline_steps=[f"generate {train_rows} rows x 20 features (seed {SEED})", f"fit {MODEL_KINDS[kind]}"],
    )
    version = register_package(ModelPackage(
        name=name or f"bench_{kind}", native=estimator, card=card,
        params={"estimator": MODEL_KINDS[kind], **estimator.get_params()},
        training=Dataset("synthetic-train", x_train, y_train, card.source),
        validation=Dataset("synthetic-validation", x_valid, y_valid, card.source),
        trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(estimator)),
    ), settings=settings)
    print(f"registered {version.ref}: validation roc_auc {version.metrics.get('validation_roc_auc', 0):.3f}",
          flush=True)
    return version.ref


# --- measuring a process tree --------------------------------------------------------------------

class TreeMonitor(threading.Thread):
    """Polls the summed RSS (and CPU time) of a process and all its descendants until stopped;
    ``also`` are long-lived process trees that work for it (a warm Dask cluster's workers), whose
    CPU counts from the first sample on."""

    def __init__(self, pid: int, interval: float = 0.05, also: tuple[int, ...] = ()):
        super().__init__(daemon=True)
        self.pid, self.interval, self.also = pid, interval, also
        self.peak_rss = 0
        self.cpu: dict[tuple[int, float], float] = {}
        self.cpu_before: dict[tuple[int, float], float] = {}
        self._stop_event = threading.Event()

    def _processes(self, psutil) -> list[tuple[object, bool]]:
        """Every process watched, and whether it belongs to a long-lived tree of ``also``."""
        found = []
        for pid in (self.pid, *self.also):
            try:
                root = psutil.Process(pid)
                found += [(process, pid != self.pid) for process in [root, *root.children(recursive=True)]]
            except psutil.NoSuchProcess:
                continue
        return found

    def run(self) -> None:
        import psutil

        while not self._stop_event.is_set():
            total = 0
            for process, long_lived in self._processes(psutil):
                try:
                    with process.oneshot():
                        total += process.memory_info().rss
                        times = process.cpu_times()
                        key = (process.pid, process.create_time())
                        self.cpu[key] = times.user + times.system
                        if long_lived:
                            self.cpu_before.setdefault(key, self.cpu[key])
                except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                    continue
            self.peak_rss = max(self.peak_rss, total)
            self._stop_event.wait(self.interval)

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu.values()) - sum(self.cpu_before.values())

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _busy_cpu_seconds() -> float:
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


@dataclass
class TreeRun:
    """What one process tree took: wall time, peak summed RSS, CPU time, and others' load meanwhile."""

    wall_s: float
    peak_rss_mb: float
    cpu_s: float
    others_cpu: float  # cores' worth of CPU used by processes outside the measured tree
    started_epoch: float


@dataclass
class Measurement:
    model: str
    runner: str
    rows: int
    run: TreeRun
    work_s: float | None = None
    details: dict = field(default_factory=dict)
    note: str = ""

    @property
    def wall_s(self) -> float:
        return self.run.wall_s

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.run.wall_s


def measure(command: list[str], log: Path, env: dict[str, str], also: tuple[int, ...] = ()) -> TreeRun:
    """Run ``command`` to its end while a thread watches its process tree (and ``also``'s)."""
    import psutil

    log.parent.mkdir(parents=True, exist_ok=True)
    busy_before, started_epoch, started = _busy_cpu_seconds(), time.time(), time.perf_counter()
    with log.open("w") as output:
        process = psutil.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
        monitor = TreeMonitor(process.pid, also=also)
        monitor.start()
        code = process.wait()
        wall = time.perf_counter() - started
        monitor.stop()
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise SystemExit(f"{' '.join(command[:4])} ... exited {code}; last lines of {log}:\n{tail}")
    own = monitor.cpu_s
    others = max(_busy_cpu_seconds() - busy_before - own, 0.0) / wall
    return TreeRun(wall, monitor.peak_rss / 2**20, own, others, started_epoch)


# --- the runners (each in its own process) -------------------------------------------------------

def child_command(runner: str, spec: dict, result_path: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", runner, "--spec", json.dumps(spec),
            "--child-result", str(result_path)]


def child_env(settings) -> dict[str, str]:
    """The caller's environment without MODELYARD_* (every child is told its home explicitly)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODELYARD_")}
    env.update({"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "PYTHONUNBUFFERED": "1",
                "MLFLOW_TRACKING_URI": settings.tracking_uri, "MLFLOW_REGISTRY_URI": settings.registry_uri})
    return env


class StageClock:
    """Times Modelyard's stages from outside, by wrapping the pipeline's functions in this process.

    Forked Dask workers inherit the wrappers; every process appends ``stage<TAB>seconds`` lines
    to its own file, so nothing has to travel back through Dask.
    """

    DRIVER = {"resolve_model": "resolve model", "_model_facts": "model facts: download, checks, load, GX suite",
              "load_batch": "plan the Dask frame", "commit_output": "commit output",
              "discard_staging": "discard staging"}
    WORKER = {"validate_batch": "validate (types + GX)", "score_partition": "predict",
              "write_part": "write Parquet", "histograms": "drift histograms",
              "summarise_predictions": "summarise predictions", "download_predictor": "load model on worker"}

    def __init__(self, folder: Path):
        self.folder = folder
        shutil.rmtree(folder, ignore_errors=True)  # a repeated run starts from nothing
        folder.mkdir(parents=True)
        self.task_stream: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        with (self.folder / f"{os.getpid()}.tsv").open("a") as stream:
            stream.write(f"{stage}\t{seconds}\n")

    def _timed(self, function, stage: str):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(stage, time.perf_counter() - started)
        return timed

    def install(self, warm: bool) -> None:
        """On a warm cluster the driver runs there: only handing it over is timed here (importing
        the stages' modules to wrap them would cost this process what the hand-over saves)."""
        from pipelines.scoring import on_cluster

        on_cluster.call_on_cluster = self._timed(on_cluster.call_on_cluster,
                                                 "run driven inside the warm cluster (all its stages)")
        if warm:
            return
        from pipelines.scoring import batch, partition, runs, validation

        for name, stage in self.DRIVER.items():
            setattr(batch, name, self._timed(getattr(batch, name), stage))
        for name, stage in self.WORKER.items():
            setattr(partition, name, self._timed(getattr(partition, name), stage))
        validation.coerce_types = self._timed(validation.coerce_types, "validate: type coercion (copy, to_numeric)")
        validation.GxSuite.run = self._timed(validation.GxSuite.run, "validate: GX suite run")
        runs.record_started = self._timed(runs.record_started, "record run started")
        runs.record_finished = self._timed(runs.record_finished, "record run finished")
        batch._client_for = self._timed_cluster(batch._client_for)
        batch._map_partitions = self._streamed(self._timed(batch._map_partitions, "map partitions (wall)"))

    def _timed_cluster(self, client_for):
        @contextmanager
        def timed(*args):
            started = time.perf_counter()
            with client_for(*args) as client:
                self.add("start local Dask cluster" if args[1].dask_scheduler is None else "connect to the cluster",
                         time.perf_counter() - started)
                yield client
                stopping = time.perf_counter()
            self.add("stop local Dask cluster" if args[1].dask_scheduler is None else "disconnect",
                     time.perf_counter() - stopping)
        return timed

    def _streamed(self, map_partitions):
        def streamed(client, *args):
            from dask.utils import key_split
            from distributed import get_task_stream

            with get_task_stream(client) as stream:
                stats = map_partitions(client, *args)
            for task in stream.data:
                for step in task["startstops"]:
                    name = f"{key_split(task['key'])} ({step['action']})"
                    self.task_stream[name] = self.task_stream.get(name, 0.0) + step["stop"] - step["start"]
            return stats
        return streamed

    def collect(self) -> dict:
        driver, workers = defaultdict(float), defaultdict(float)
        for path in self.folder.glob("*.tsv"):
            target = driver if path.stem == str(os.getpid()) else workers
            for line in path.read_text().splitlines():
                stage, seconds = line.split("\t")
                target[stage] += float(seconds)
        return {"driver": dict(driver), "workers": dict(workers), "task_stream": self.task_stream,
                "worker_processes": sum(1 for path in self.folder.glob("*.tsv") if path.stem != str(os.getpid()))}


def run_modelyard(spec: dict) -> dict:
    """``score_batch`` as ``modelyard score`` runs it, policy ``fail``, default range checks: on a
    local cluster of its own (cold), or on the warm cluster at ``spec["scheduler"]``. The
    libraries a run needs beyond these imports load during the run and count in its stages."""
    started = time.perf_counter()
    from pipelines.scoring import ScoringRequest, score_batch
    from registry.settings import Settings

    clock = StageClock(Path(spec["stages"]))
    clock.install(warm=bool(spec.get("scheduler")))
    imported = time.perf_counter()
    settings = Settings(home=spec["home"], dask_scheduler=spec.get("scheduler"))
    result = score_batch(ScoringRequest(model_ref=spec["model_ref"], input_path=spec["input"],
                                        output_path=spec["output"], policy="fail"), settings=settings)
    finished = time.perf_counter()
    return {"import_s": imported - started, "work_s": finished - imported, "rows": result.rows_in,
            "rows_scored": result.rows_scored, "expectations": result.validation.expectations,
            "stages": clock.collect()}


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


# --- the benchmark -------------------------------------------------------------------------------

@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    settings: object
    measurements: list[Measurement] = field(default_factory=list)
    cluster: str | None = None  # the warm cluster's scheduler address, once started
    cluster_pids: tuple[int, ...] = ()

    @property
    def env(self) -> dict[str, str]:
        return child_env(self.settings)

    def _run_child(self, runner: str, spec: dict, label: str, also: tuple[int, ...] = ()) -> tuple[TreeRun, dict]:
        result_path = self.work / "results" / f"{label}.json"
        for folder in (result_path.parent, self.work / "out"):
            folder.mkdir(exist_ok=True)
        run = measure(child_command(runner, spec, result_path), self.work / "logs" / f"{label}.log", self.env,
                      also)
        outcome = json.loads(result_path.read_text())
        outcome["start_s"] = outcome.pop("began_epoch") - run.started_epoch
        outcome["exit_s"] = run.started_epoch + run.wall_s - outcome.pop("ended_epoch")
        return run, outcome

    def best_of(self, run) -> Measurement:
        """``run`` --repeat times; keep the fastest (the least disturbed by other load)."""
        attempts = []
        for attempt in range(self.args.repeat):
            print(f"  {_load()} ...", end=" ", flush=True)
            attempts.append(run())
            last = attempts[-1]
            print(f"[{last.model}] {last.runner}, {last.rows:,} rows: {last.wall_s:.1f} s, peak RSS "
                  f"{last.run.peak_rss_mb:,.0f} MB, others' CPU {last.run.others_cpu:.2f}", flush=True)
        best = min(attempts, key=lambda m: m.wall_s)
        if len(attempts) > 1:
            best.note = "; ".join(filter(None, [best.note, "best of " + ", ".join(f"{m.wall_s:.1f}" for m in attempts)]))
        self.measurements.append(best)
        return best

    def run_modelyard(self, kind: str, ref: str, data: Path, rows: int, *, warm: bool = False) -> Measurement:
        """Cold: the run starts its own local cluster. Warm: it uses the platform's cluster, whose
        workers' memory and CPU count with the run's."""
        label = f"modelyard-{'warm' if warm else 'cold'}-{kind}-{rows}"
        output = self.work / "out" / label
        spec = {"home": str(self.settings.home), "model_ref": ref, "input": str(data), "output": str(output),
                "stages": str(self.work / "stages" / label), "scheduler": self.cluster if warm else None}
        run, outcome = self._run_child("modelyard", spec, label, self.cluster_pids if warm else ())
        if outcome["rows_scored"] != rows:
            raise SystemExit(f"Modelyard scored {outcome['rows_scored']} of {rows} rows")
        return Measurement(kind, RUNNERS["warm" if warm else "modelyard"], rows, run, outcome["work_s"], outcome)

    def run_limit(self, kind: str, model_dir: Path, data: Path, rows: int) -> Measurement:
        spec = {"model_dir": str(model_dir), "input": str(data), "rows": rows}
        run, outcome = self._run_child("limit", spec, f"limit-{kind}-{rows}")
        return Measurement(kind, RUNNERS["limit"], outcome["rows"], run, outcome["work_s"], outcome)

    @contextmanager
    def warm_cluster(self, ref: str, warmup_data: Path):
        """The platform's long-lived Dask cluster (what ``modelyard up`` starts and Airflow's
        ``dask_default`` names), warmed by one small run; stopped by PID afterwards."""
        from infra import processes
        from stack import dask_cluster
        from stack.service import service_env

        settings = self.settings.model_copy(update={"dask_port": free_port(), "dask_dashboard_port": free_port()})
        launched = dask_cluster.start(settings, service_env(settings))
        try:
            self.cluster, self.cluster_pids = dask_cluster.address(settings), tuple(p.pid for p in launched)
            clock = time.perf_counter()
            self._run_child("modelyard", {"home": str(self.settings.home), "model_ref": ref, "input": str(warmup_data),
                                          "output": str(self.work / "out" / "warm-up"), "scheduler": self.cluster,
                                          "stages": str(self.work / "stages" / "warm-up")}, "warm-up")
            print(f"  warm cluster at {self.cluster} ({settings.dask_workers} workers), warmed by one run in "
                  f"{time.perf_counter() - clock:.1f} s", flush=True)
            yield
        finally:
            processes.stop(list(reversed(launched)), timeout=15.0)
            self.cluster, self.cluster_pids = None, ()

    def run_pandas(self, kind: str, model_dir: Path, data: Path, rows: int) -> Measurement:
        label = f"pandas-{kind}-{rows}"
        spec = {"model_dir": str(model_dir), "input": str(data), "output": str(self.work / "out" / f"{label}.parquet")}
        run, outcome = self._run_child("pandas", spec, label)
        if outcome["rows"] != rows:
            raise SystemExit(f"the pandas script wrote {outcome['rows']} of {rows} rows")
        return Measurement(kind, RUNNERS["pandas"], rows, run, outcome["work_s"], outcome)

    def run_mlflow_cli(self, kind: str, ref: str, csv: Path, rows: int, capped: bool) -> Measurement:
        label = f"mlflow-{kind}-{rows}"
        output = self.work / "out" / f"{label}.json"
        output.parent.mkdir(exist_ok=True)
        name, version = ref.split("/")
        command = [str(Path(sys.executable).parent / "mlflow"), "models", "predict", "-m", f"models:/{name}/{version}",
                   "-i", str(csv), "-t", "csv", "-o", str(output), "--env-manager", "local"]
        run = measure(command, self.work / "logs" / f"{label}.log", self.env)
        predicted = len(json.loads(output.read_text())["predictions"])
        if predicted != rows:
            raise SystemExit(f"mlflow models predict returned {predicted} of {rows} predictions")
        note = f"capped at {rows:,} rows (--mlflow-rows)" if capped else ""
        return Measurement(kind, RUNNERS["mlflow"], rows, run, None, {}, note)


def check_agreement(work: Path, ours_label: str, pandas_label: str, mlflow_label: str | None = None) -> str:
    """Do the runners predict the same? Every row: labels equal, probabilities' largest difference."""
    import numpy as np
    import pandas as pd

    ours = pd.read_parquet(work / "out" / ours_label).sort_values(KEY).reset_index(drop=True)
    theirs = pd.read_parquet(work / "out" / f"{pandas_label}.parquet").sort_values(KEY).reset_index(drop=True)
    if len(ours) != len(theirs) or not np.array_equal(ours[KEY].to_numpy(), theirs[KEY].to_numpy()):
        raise SystemExit(f"{ours_label} and {pandas_label} scored different rows")
    same = np.mean(ours["prediction"].to_numpy() == theirs["prediction"].to_numpy())
    columns = [column for column in theirs.columns if column.startswith("probability_")]
    gap = float(np.abs(ours[columns].to_numpy() - theirs[columns].to_numpy()).max()) if columns else 0.0
    text = f"{ours_label} vs {pandas_label}: labels agree on {same:.2%} of {len(ours):,} rows, probabilities within {gap:.1e}"
    if mlflow_label:
        cli = np.asarray(json.loads((work / "out" / f"{mlflow_label}.json").read_text())["predictions"])
        first = ours.set_index(KEY).loc[np.arange(len(cli)), "prediction"].to_numpy()
        text += f"; vs (b) on its {len(cli):,} rows {np.mean(first == cli):.2%}"
    return text


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def run_benchmark(args: argparse.Namespace, work: Path) -> int:
    from registry.catalog import download_model_dir
    from registry.settings import Settings

    print(f"working data under {work}; {_load()}", flush=True)
    settings = Settings(home=work / "home", dask_scheduler=None)
    bench = Bench(args, work, settings)
    kinds = [kind.strip() for kind in args.models.split(",") if kind.strip()]
    refs = {kind: register_model(kind, args.train_rows, settings) for kind in kinds}
    small = work / "data" / f"rows-{args.rows}"
    csv, mlflow_rows = prepare_inputs(args, small, work / "data" / "input.csv")
    model_dirs = {kind: download_model_dir(refs[kind], work / "models" / kind, settings) for kind in kinds}
    agreement = []
    for kind in kinds:
        bench.best_of(lambda: bench.run_pandas(kind, model_dirs[kind], small, args.rows))
        bench.best_of(lambda: bench.run_modelyard(kind, refs[kind], small, args.rows))
        if mlflow_rows:
            bench.best_of(lambda: bench.run_mlflow_cli(kind, refs[kind], csv, mlflow_rows, mlflow_rows < args.rows))
        agreement.append(check_agreement(work, f"modelyard-cold-{kind}-{args.rows}", f"pandas-{kind}-{args.rows}",
                                         f"mlflow-{kind}-{mlflow_rows}" if mlflow_rows else None))
        shutil.rmtree(work / "out")
    if "rf" in refs:
        bench.best_of(lambda: bench.run_limit("rf", model_dirs["rf"], small, min(args.rows, 1_000_000)))
    if "rf" in refs and not args.skip_warm:
        warmup = work / "data" / "warm-up"
        write_dataset(warmup, 20_000, args.rows_per_file)
        with bench.warm_cluster(refs["rf"], warmup):
            bench.best_of(lambda: bench.run_modelyard("rf", refs["rf"], small, args.rows, warm=True))
            if args.big_rows:
                shutil.rmtree(small)
                shutil.rmtree(work / "out")
                big = work / "data" / f"rows-{args.big_rows}"
                write_dataset(big, args.big_rows, args.rows_per_file)
                bench.best_of(lambda: bench.run_pandas("rf", model_dirs["rf"], big, args.big_rows))
                bench.best_of(lambda: bench.run_modelyard("rf", refs["rf"], big, args.big_rows, warm=True))
                agreement.append(check_agreement(work, f"modelyard-warm-rf-{args.big_rows}",
                                                 f"pandas-rf-{args.big_rows}"))
    print_report(bench, agreement)
    print(f"\nafter the runs: {_load()}")
    return 0


def prepare_inputs(args: argparse.Namespace, folder: Path, csv: Path) -> tuple[Path, int | None]:
    """The Parquet data set, and its CSV copy for the mlflow CLI unless that baseline is skipped."""
    clock = time.perf_counter()
    files = write_dataset(folder, args.rows, args.rows_per_file)
    size = sum(path.stat().st_size for path in files) / 2**20
    print(f"wrote {args.rows:,} rows in {len(files)} Parquet files ({size:,.0f} MB) in "
          f"{time.perf_counter() - clock:.1f} s", flush=True)
    if args.skip_mlflow_cli:
        return csv, None
    rows = write_csv_copy(files, csv, min(args.mlflow_rows or args.rows, args.rows))
    print(f"wrote the CSV copy for mlflow ({rows:,} rows, {csv.stat().st_size / 2**20:,.0f} MB)", flush=True)
    return csv, rows


# --- the report ----------------------------------------------------------------------------------

def _pandas_wall(bench: Bench, model: str, rows: int) -> Measurement | None:
    return next((m for m in bench.measurements
                 if m.model == model and m.runner == RUNNERS["pandas"] and m.rows == rows), None)


HEADER = ("model", "runner", "rows", "wall s", "rows/s", "peak RSS MB", "speed-up vs (a)", "work s", "CPU s",
          "others' CPU")
LEGEND = """\
wall s: the whole process, command to exit (interpreter start, imports, Dask cluster included); rows/s = rows / wall s;
  speed-up vs (a) = wall of (a) / wall, same model and rows.
work s: inside the process after the libraries are imported (not known for the mlflow CLI).
peak RSS: summed over the process tree, polled every 50 ms (forked workers' shared pages count once per process).
CPU s: user + system CPU time of the process tree. others' CPU: cores kept busy by processes outside the
  measured tree during the run (another user's load: contention)."""


def table_rows(bench: Bench) -> list[tuple[str, ...]]:
    rows = []
    for m in bench.measurements:
        baseline = _pandas_wall(bench, m.model, m.rows)
        rows.append((
            m.model, m.runner, f"{m.rows:,}", f"{m.wall_s:.1f}", f"{m.rows_per_s:,.0f}", f"{m.run.peak_rss_mb:,.0f}",
            f"{baseline.wall_s / m.wall_s:.2f}x" if baseline else "-",
            f"{m.work_s:.1f}" if m.work_s is not None else "-", f"{m.run.cpu_s:.1f}", f"{m.run.others_cpu:.2f}",
        ))
    return rows


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Text columns left-aligned, figures right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def print_report(bench: Bench, agreement: list[str]) -> None:
    print(f"\nBatch scoring, end to end (read, validate, score, write), {len(FEATURES)} float features, "
          f"{bench.args.rows_per_file:,} rows per Parquet file (= Dask partition); {os.cpu_count()} cores")
    print(format_table(HEADER, table_rows(bench)))
    print(LEGEND)
    for m in bench.measurements:
        if m.note:
            print(f"NOTE: {m.model} {m.runner}, {m.rows:,} rows: {m.note}")
    for line in agreement:
        print(f"outputs: {line}")
    print_targets(bench)
    for m in bench.measurements:
        if m.details and m.runner != RUNNERS["limit"]:
            print_stages(m)


def _find(bench: Bench, runner: str, rows: int | None, model: str = "rf") -> Measurement | None:
    return next((m for m in bench.measurements
                 if m.model == model and m.runner == RUNNERS[runner] and (rows is None or m.rows == rows)), None)


def _model_rate(limit: Measurement) -> float:
    """Rows per second of the bare model, one core (not the measuring process's wall time)."""
    return limit.details["rows"] / limit.details["predict_s"]


def target_rows(bench: Bench) -> list[tuple[str, str, str, str]]:
    """Issue #11's targets: (target, measured, wanted, PASS/FAIL/not measured)."""
    small, big = bench.args.rows, bench.args.big_rows
    pandas, cold, warm = _find(bench, "pandas", small), _find(bench, "modelyard", small), _find(bench, "warm", small)
    pandas_big, warm_big = _find(bench, "pandas", big), _find(bench, "warm", big)
    mlflow, limit = _find(bench, "mlflow", None), _find(bench, "limit", None)

    def speedup(ours, theirs):
        return ours.rows_per_s / theirs.rows_per_s if ours and theirs else None

    found = [
        (f"1. cold, {small:,} rows, vs (a)", speedup(cold, pandas), TARGETS["cold"], "x"),
        (f"2. warm, {small:,} rows, vs (a)", speedup(warm, pandas), TARGETS["warm"], "x"),
        (f"2. warm, {big or 0:,} rows, vs (a) at {big or 0:,}", speedup(warm_big, pandas_big), TARGETS["warm_big"], "x"),
        (f"3. warm, {big or 0:,} rows, share of the model's 2-core limit",
         warm_big.rows_per_s / (2 * _model_rate(limit)) if warm_big and limit else None, TARGETS["model_limit"], "%"),
        (f"4. cold, {small:,} rows, vs (b) mlflow CLI (rows/s)", speedup(cold, mlflow), TARGETS["mlflow"], "x"),
    ]
    rows = []
    for name, value, wanted, unit in found:
        shown = "-" if value is None else (f"{value:.0%}" if unit == "%" else f"{value:.2f}x")
        goal = f">= {wanted:.0%}" if unit == "%" else f">= {wanted}x"
        rows.append((name, shown, goal, "not measured" if value is None else ("PASS" if value >= wanted else "FAIL")))
    small_peak = warm or cold
    big_peak = warm_big
    if small_peak and big_peak:
        ratio = big_peak.run.peak_rss_mb / small_peak.run.peak_rss_mb
        rows.append((f"6. peak RSS {big:,} vs {small:,} rows ({small_peak.run.peak_rss_mb:,.0f} -> "
                     f"{big_peak.run.peak_rss_mb:,.0f} MB)", f"{ratio:.2f}x", "<= 1.25x", "PASS" if ratio <= 1.25 else "FAIL"))
    else:
        rows.append(("6. peak RSS, big vs small", "-", "<= 1.25x", "not measured"))
    rows.append(("5. through Airflow: trigger to success / live", "see benchmarks/airflow_runs.py", "15 s / 25 s",
                 "not measured here"))
    return rows


def print_targets(bench: Bench) -> None:
    print("\nTargets (issue #11), RandomForest, whole process, one run")
    print(format_table(("target", "measured", "wanted", "verdict"), target_rows(bench)))
    limit = _find(bench, "limit", None)
    if limit:
        print(f"model limit: predict_proba on {limit.details['rows']:,} in-memory float32 rows, 1 core: "
              f"{_model_rate(limit):,.0f} rows/s; 2-core limit = twice that = {2 * _model_rate(limit):,.0f} rows/s")


def print_stages(m: Measurement) -> None:
    d = m.details
    print(f"\nWhere the time goes: {m.model} {m.runner}, {m.rows:,} rows, wall {m.wall_s:.1f} s")
    print(f"  {'interpreter start':<48}{d['start_s']:7.2f} s")
    print(f"  {'imports':<48}{d['import_s']:7.2f} s")
    stages = d.get("stages", {})
    if "driver" not in stages:
        for stage, seconds in stages.items():
            if stage != "imports":
                print(f"  {stage:<48}{seconds:7.2f} s")
    else:
        driver = dict(stages["driver"])
        map_wall = driver.get("map partitions (wall)", 0.0)
        for stage, seconds in driver.items():
            print(f"  {stage:<48}{seconds:7.2f} s")
        print(f"  {'other driver work (scoring summary, DB, ...)':<48}{d['work_s'] - sum(driver.values()):7.2f} s")
        if not stages["task_stream"] and not stages["workers"]:
            print(f"  {'process exit':<48}{d['exit_s']:7.2f} s")
            return
        workers = stages["worker_processes"] or 2
        print(f"  -- inside 'map partitions', summed over {workers} workers ({workers * map_wall:.1f} worker-s "
              f"available):")
        for stage, seconds in sorted(stages["task_stream"].items(), key=lambda item: -item[1]):
            print(f"     task {stage:<43}{seconds:7.2f} s")
        for stage, seconds in sorted(stages["workers"].items(), key=lambda item: -item[1]):
            print(f"     {stage:<48}{seconds:7.2f} s")
    print(f"  {'process exit':<48}{d['exit_s']:7.2f} s")


# --- command line --------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows of the measured data set")
    parser.add_argument("--big-rows", type=int, default=None,
                        help="also score this many rows with Modelyard (RF) to compare peak memory")
    parser.add_argument("--models", default="rf,lr", help="comma-separated: rf, lr")
    parser.add_argument("--skip-mlflow-cli", action="store_true", help="leave out baseline (b)")
    parser.add_argument("--skip-warm", action="store_true", help="leave out the warm cluster's runs")
    parser.add_argument("--mlflow-rows", type=int, default=None,
                        help="cap the rows given to `mlflow models predict` (the cap is printed)")
    parser.add_argument("--rows-per-file", type=int, default=500_000,
                        help="rows per Parquet file, i.e. per Dask partition")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each measurement this many times and keep the fastest")
    parser.add_argument("--train-rows", type=int, default=200_000, help="rows the models are trained on")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="folder for the generated data (a temporary folder is made inside it)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and models")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--child-result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = {kind.strip() for kind in args.models.split(",")} - set(MODEL_KINDS)
    if unknown:
        parser.error(f"unknown model kinds: {', '.join(sorted(unknown))} (choose from rf, lr)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(args.child, json.loads(args.spec), args.child_result)
        return 0
    parent = (args.workdir or Path(tempfile.gettempdir())).resolve()
    if parent == REPO or REPO in parent.parents:
        raise SystemExit(f"--workdir {parent} is inside the repository; generated data is GBs: choose another")
    with throwaway_workdir(parent, "modelyard-batch-bench-", keep=args.keep) as work:
        return run_benchmark(args, work)


@contextmanager
def throwaway_workdir(parent: Path, prefix: str, *, keep: bool):
    """A fresh folder under ``parent`` for one run, removed afterwards unless ``keep``; the run's
    start time and command line are printed first."""
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}",
          flush=True)
    try:
        yield work
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
