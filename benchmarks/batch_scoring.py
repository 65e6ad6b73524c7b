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
TARGET_SPEEDUP = 1.6
MEMORY_TOLERANCE = 1.25  # "independent of input size": the big run's peak within 25 % of the small one's
MODEL_KINDS = {"rf": "RandomForestClassifier", "lr": "LogisticRegression"}
RUNNERS = {"modelyard": "modelyard", "pandas": "(a) pandas script", "mlflow": "(b) mlflow CLI"}


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


def register_model(kind: str, train_rows: int, settings) -> str:
    """Fit one model on a sample of the same law and register it with training and validation sets."""
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
        name=f"bench_{kind}", native=estimator, card=card,
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
    """Polls the summed RSS (and CPU time) of a process and all its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = 0
        self.cpu: dict[tuple[int, float], float] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop_event.is_set():
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for process in processes:
                try:
                    with process.oneshot():
                        total += process.memory_info().rss
                        times = process.cpu_times()
                        self.cpu[(process.pid, process.create_time())] = times.user + times.system
                except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                    continue
            self.peak_rss = max(self.peak_rss, total)
            self._stop_event.wait(self.interval)

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


def measure(command: list[str], log: Path, env: dict[str, str]) -> TreeRun:
    """Run ``command`` to its end while a thread watches its process tree."""
    import psutil

    log.parent.mkdir(parents=True, exist_ok=True)
    busy_before, started_epoch, started = _busy_cpu_seconds(), time.time(), time.perf_counter()
    with log.open("w") as output:
        process = psutil.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
        monitor = TreeMonitor(process.pid)
        monitor.start()
        code = process.wait()
        wall = time.perf_counter() - started
        monitor.stop()
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise SystemExit(f"{' '.join(command[:4])} ... exited {code}; last lines of {log}:\n{tail}")
    own = sum(monitor.cpu.values())
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

    def install(self) -> None:
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
                self.add("start local Dask cluster", time.perf_counter() - started)
                yield client
                stopping = time.perf_counter()
            self.add("stop local Dask cluster", time.perf_counter() - stopping)
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
    """``score_batch`` with the default local cluster, policy ``fail`` and default range checks."""
    started = time.perf_counter()
    import dask.dataframe  # noqa: F401  (imports are timed apart from the work)
    import distributed  # noqa: F401
    import great_expectations  # noqa: F401
    import mlflow.sklearn  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    from pipelines.scoring import ScoringRequest, score_batch
    from registry.settings import Settings

    clock = StageClock(Path(spec["stages"]))
    clock.install()
    imported = time.perf_counter()
    settings = Settings(home=spec["home"], dask_scheduler=None)
    result = score_batch(ScoringRequest(model_ref=spec["model_ref"], input_path=spec["input"],
                                        output_path=spec["output"], policy="fail"), settings=settings)
    finished = time.perf_counter()
    return {"import_s": imported - started, "work_s": finished - imported, "rows": result.rows_in,
            "rows_scored": result.rows_scored, "expectations": result.validation.expectations,
            "stages": clock.collect()}


def run_pandas(spec: dict) -> dict:
    """Baseline (a): one process reads every file, predicts with the registered model, writes one file."""
    started = time.perf_counter()
    import mlflow.sklearn  # noqa: F401  (imports are timed apart from the work)
    import pandas as pd
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    from registry.predictors import load_predictor

    marks = [("imports", time.perf_counter())]
    predictor = load_predictor(spec["model_dir"])
    marks.append(("load model", time.perf_counter()))
    frame = pd.read_parquet(spec["input"])
    marks.append(("read Parquet", time.perf_counter()))
    scored = pd.concat([frame[[KEY]], predictor.predict(frame)], axis=1)
    marks.append(("predict", time.perf_counter()))
    scored.to_parquet(spec["output"], index=False)
    marks.append(("write Parquet", time.perf_counter()))
    stages = {stage: end - start for (stage, end), (_, start) in zip(marks, [("", started), *marks])}
    return {"import_s": stages.pop("imports"), "work_s": marks[-1][1] - marks[0][1], "rows": len(scored),
            "stages": stages}


CHILDREN = {"modelyard": run_modelyard, "pandas": run_pandas}


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

    @property
    def env(self) -> dict[str, str]:
        return child_env(self.settings)

    def _run_child(self, runner: str, spec: dict, label: str) -> tuple[TreeRun, dict]:
        result_path = self.work / "results" / f"{label}.json"
        for folder in (result_path.parent, self.work / "out"):
            folder.mkdir(exist_ok=True)
        run = measure(child_command(runner, spec, result_path), self.work / "logs" / f"{label}.log", self.env)
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

    def run_modelyard(self, kind: str, ref: str, data: Path, rows: int) -> Measurement:
        label = f"modelyard-{kind}-{rows}"
        output = self.work / "out" / label
        spec = {"home": str(self.settings.home), "model_ref": ref, "input": str(data), "output": str(output),
                "stages": str(self.work / "stages" / label)}
        run, outcome = self._run_child("modelyard", spec, label)
        if outcome["rows_scored"] != rows:
            raise SystemExit(f"Modelyard scored {outcome['rows_scored']} of {rows} rows")
        return Measurement(kind, RUNNERS["modelyard"], rows, run, outcome["work_s"], outcome)

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


def check_agreement(work: Path, kind: str, rows: int, mlflow_rows: int | None) -> str:
    """Do the runners predict the same labels? Compared on the first partition's rows."""
    import numpy as np
    import pandas as pd

    ours = pd.read_parquet(work / "out" / f"modelyard-{kind}-{rows}" / "part-00000.parquet",
                           columns=[KEY, "prediction"]).sort_values(KEY)
    theirs = pd.read_parquet(work / "out" / f"pandas-{kind}-{rows}.parquet", columns=[KEY, "prediction"])
    theirs = theirs.set_index(KEY).loc[ours[KEY], "prediction"].to_numpy()
    text = f"{kind}: Modelyard vs (a) agree on {np.mean(ours['prediction'].to_numpy() == theirs):.2%} of {len(ours):,} rows"
    if mlflow_rows:
        cli = np.asarray(json.loads((work / "out" / f"mlflow-{kind}-{mlflow_rows}.json").read_text())["predictions"])
        count = min(len(cli), len(ours))
        text += f"; vs (b) {np.mean(ours['prediction'].to_numpy()[:count] == cli[:count]):.2%}"
    return text


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
    agreement = []
    for kind in kinds:
        model_dir = download_model_dir(refs[kind], work / "models" / kind, settings)
        bench.best_of(lambda: bench.run_pandas(kind, model_dir, small, args.rows))
        bench.best_of(lambda: bench.run_modelyard(kind, refs[kind], small, args.rows))
        if mlflow_rows:
            bench.best_of(lambda: bench.run_mlflow_cli(kind, refs[kind], csv, mlflow_rows, mlflow_rows < args.rows))
        agreement.append(check_agreement(work, kind, args.rows, mlflow_rows))
        shutil.rmtree(work / "out")
    if args.big_rows and "rf" in refs:
        shutil.rmtree(small)
        big = work / "data" / f"rows-{args.big_rows}"
        write_dataset(big, args.big_rows, args.rows_per_file)
        bench.best_of(lambda: bench.run_modelyard("rf", refs["rf"], big, args.big_rows))
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
        if m.details:
            print_stages(m)


def print_targets(bench: Bench) -> None:
    rf = [m for m in bench.measurements if m.model == "rf" and m.runner == RUNNERS["modelyard"]]
    baseline = _pandas_wall(bench, "rf", bench.args.rows)
    print("\nTargets")
    if rf and baseline:
        ours = rf[0]
        speedup, work_speedup = baseline.wall_s / ours.wall_s, baseline.work_s / ours.work_s
        verdict = "PASS" if speedup >= TARGET_SPEEDUP else "FAIL"
        print(f"  RF speed-up vs (a), whole process: {speedup:.2f}x (target >= {TARGET_SPEEDUP}x): {verdict}")
        print(f"  RF speed-up vs (a), work after imports: {work_speedup:.2f}x "
              f"({'PASS' if work_speedup >= TARGET_SPEEDUP else 'FAIL'} on that basis)")
    if len(rf) == 2:
        small, big = rf
        ratio = big.run.peak_rss_mb / small.run.peak_rss_mb
        verdict = "PASS" if ratio <= MEMORY_TOLERANCE else "FAIL"
        print(f"  Modelyard RF peak RSS: {small.rows:,} rows {small.run.peak_rss_mb:,.0f} MB vs {big.rows:,} rows "
              f"{big.run.peak_rss_mb:,.0f} MB: ratio {ratio:.2f} (input x{big.rows / small.rows:.0f}; "
              f"target <= {MEMORY_TOLERANCE}): {verdict}")


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
