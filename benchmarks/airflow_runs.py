"""Through Airflow on a warm platform: a triggered batch_scoring run and a deploy, trigger to done.

A throwaway home gets the breast cancer model (trained, alias ``champion``); ``modelyard up``
starts the platform on free loopback ports (Airflow with LocalExecutor, the MLflow server, the
warm Dask cluster). One batch_scoring run warms it; then each measured run is triggered through
the REST API as the Models page and ``modelyard`` trigger them, and timed from the trigger to
the run's success. Airflow's own task-instance times say where the time went: waiting to be
scheduled and queued, each task's process, and the gaps between tasks. A deploy_model run is
timed the same way, to its endpoint answering. Figures and the command: benchmarks/README.md.

    .venv/bin/python benchmarks/airflow_runs.py --rows 10000 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.harness import free_port  # noqa: E402  (the repository must be on sys.path first)

MODEL = "breast_cancer_classifier"
TARGETS = {"batch_scoring": 15.0, "deploy_model": 25.0}  # seconds, trigger to success (issue #11)


def _when(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def where_time_went(api, dag_id: str, run_id: str, triggered: float) -> list[tuple[str, float]]:
    """From the trigger: for each task in the order it ran, the wait before its process started
    (scheduling, queueing, the previous task's end) and its process from start to end."""
    instances = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    ordered = sorted(instances, key=lambda ti: _when(ti["start_date"]) or 0.0)
    stages, clock = [], triggered
    for instance in ordered:
        started, ended = _when(instance["start_date"]), _when(instance["end_date"])
        if started is None or ended is None:
            continue
        stages.append((f"before {instance['task_id']} (schedule, queue, start a process)", started - clock))
        stages.append((f"{instance['task_id']} (its process: imports and work)", ended - started))
        clock = ended
    run = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
    stages.append(("after the last task, until the run is marked done", (_when(run["end_date"]) or clock) - clock))
    return stages


def timed_run(api, dag_id: str, conf: dict, *, done=None, timeout: float = 300.0) -> tuple[float, list]:
    """Trigger, wait for success (and ``done()``, if given), return the seconds and the stages."""
    from infra.polling import poll

    triggered = time.time()
    run_id = api.trigger(dag_id, conf)
    state = api.wait_for_run(dag_id, run_id, timeout=timeout)
    if state != "success":
        raise SystemExit(f"{dag_id} run {run_id} ended {state}: {api.task_states(dag_id, run_id)}")
    ended = _when(api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["end_date"])  # not when the poll saw it
    if done is not None:
        if poll(lambda: done() or None, timeout=60, interval=0.05) is None:
            raise SystemExit(f"{dag_id} run {run_id} succeeded but the result never showed")
        ended = max(ended, time.time())
    return ended - triggered, where_time_went(api, dag_id, run_id, triggered)


def print_run(title: str, seconds: float, stages: list[tuple[str, float]]) -> None:
    print(f"\n{title}: {seconds:.1f} s from trigger to done")
    for stage, spent in stages:
        print(f"  {stage:<66}{spent:6.1f} s")


def run(args: argparse.Namespace, home: Path) -> int:
    import httpx

    from pipelines.demo import write_batch_input
    from pipelines.training import DEMO_MODELS, train_demo_model
    from registry.catalog import set_alias
    from registry.deployments import list_deployments
    from registry.settings import Settings
    from stack import airflow, platform

    settings = Settings(home=home, airflow_port=free_port(), mlflow_port=free_port(), dask_port=free_port(),
                        dask_dashboard_port=free_port())
    version = train_demo_model(DEMO_MODELS[MODEL], settings)
    set_alias(version.ref, "champion", settings)
    data = settings.home / "data" / "bench"
    copies = -(-args.rows // 569)  # the breast cancer set has 569 rows
    source = write_batch_input(data / "input.parquet", copies=copies)
    clock = time.perf_counter()
    platform.up(settings)
    print(f"modelyard up: {time.perf_counter() - clock:.1f} s (home {home})", flush=True)
    try:
        with airflow.running_api(settings) as api:
            for dag_id in TARGETS:
                api.wait_for_dag(dag_id, timeout=120)
                api.unpause(dag_id)

            def conf(index: int) -> dict:
                return {"model_ref": f"{MODEL}@champion", "input_path": str(source),
                        "output_path": str(data / f"scored-{index}"), "policy": "quarantine"}

            warm, _ = timed_run(api, "batch_scoring", conf(0))
            print(f"warm-up batch_scoring run: {warm:.1f} s", flush=True)
            batch = [timed_run(api, "batch_scoring", conf(index)) for index in range(1, args.runs + 1)]
            for index, (seconds, stages) in enumerate(batch, 1):
                print_run(f"batch_scoring, {copies * 569:,} rows, run {index}", seconds, stages)

            def answering() -> bool:
                running = [d for d in list_deployments(settings=settings, live=False, model_name=MODEL)
                           if d.status == "running"]
                return bool(running) and httpx.get(f"{running[0].url}/readyz", timeout=2).status_code == 200

            deploy = timed_run(api, "deploy_model", {"model_ref": f"{MODEL}@champion", "port": 0},
                               done=answering, timeout=600)
            print_run("deploy_model, to the endpoint answering", *deploy)
    finally:
        platform.down(settings, deployments=True)

    median = statistics.median(seconds for seconds, _ in batch)
    print("\nTargets (issue #11, 5: through Airflow, warm platform)")
    for name, seconds, rows in (("batch_scoring", median, f"{copies * 569:,} rows, median of {args.runs}"),
                                ("deploy_model", deploy[0], "to a live endpoint")):
        verdict = "PASS" if seconds <= TARGETS[name] else "FAIL"
        print(f"  {name} ({rows}): {seconds:.1f} s (target <= {TARGETS[name]:.0f} s): {verdict}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the batch (copies of the 569-row set)")
    parser.add_argument("--runs", type=int, default=3, help="measured batch_scoring runs (the median counts)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelyard-airflow-bench-") as home:
        return run(args, Path(home))


if __name__ == "__main__":
    sys.exit(main())
