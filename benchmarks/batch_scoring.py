"""Batch scoring benchmark: Modelyard's ``score_batch`` beside a pandas script and ``mlflow models predict``.

End to end (read, validate, score, write) on a generated Parquet data set of N rows x 20 numeric
features, for a RandomForest and a LogisticRegression registered in a throwaway Modelyard home.
Every measured run is its own process; a background thread polls the peak RSS of its whole
process tree (Dask workers included) with psutil. Figures and the command: benchmarks/README.md.
The data set and models are ``batch_data``, each process's work ``batch_runners``, the report
``batch_report``; this module runs them and keeps the command line.

    .venv/bin/python benchmarks/batch_scoring.py --rows 5000000 --big-rows 20000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.batch_data import KEY, MODEL_KINDS, register_model, write_csv_copy, write_dataset  # noqa: E402
from benchmarks.batch_report import RUNNERS, Measurement, print_report  # noqa: E402
from benchmarks.batch_runners import CHILDREN, child_main  # noqa: E402
from benchmarks.harness import (  # noqa: E402  (the repository must be on sys.path first)
    TreeRun, child_env, free_port, load_average, measure, throwaway_workdir,
)


def child_command(runner: str, spec: dict, result_path: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", runner, "--spec", json.dumps(spec),
            "--child-result", str(result_path)]


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
            print(f"  {load_average()} ...", end=" ", flush=True)
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
                "scheduler": self.cluster if warm else None}
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
                                          "output": str(self.work / "out" / "warm-up"), "scheduler": self.cluster},
                          "warm-up")
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


def run_benchmark(args: argparse.Namespace, work: Path) -> int:
    from registry.catalog import download_model_dir
    from registry.settings import Settings

    print(f"working data under {work}; {load_average()}", flush=True)
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
    print_report(bench.measurements, args, agreement)
    print(f"\nafter the runs: {load_average()}")
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


if __name__ == "__main__":
    sys.exit(main())
