"""Batch scoring from the command line: ``score``, ``runs``, ``associate``, ``associations``.

``cli.main`` registers the first three as top-level commands.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cli.common import JsonOption, handles_errors
from cli.output import console, errors, show
from registry.scoring_options import BATCH_SCORING_DAG, FORMATS, POLICIES, check_policy

associations = typer.Typer(no_args_is_help=True, help="Models plugged into scoring workflows.")


@handles_errors
def score(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION (pinned once per run).")],
    input_path: Annotated[str, typer.Option("--input", "-i", help="Parquet/CSV file, folder or glob; local or s3://.")],
    output_path: Annotated[str, typer.Option("--output", "-o", help="Output folder (replaced atomically).")],
    policy: Annotated[str, typer.Option(help="fail: stop on invalid rows; quarantine: score the valid ones.")] = "fail",
    fmt: Annotated[str, typer.Option("--format", help="|".join(FORMATS))] = "parquet",
    run_id: Annotated[Optional[str], typer.Option(help="Re-using a run id replaces its output.")] = None,
    key: Annotated[Optional[list[str]], typer.Option(help="Column to pass through (repeatable); default: non-features.")] = None,
    via_airflow: Annotated[bool, typer.Option("--airflow", help="Run it as a batch_scoring DAG run on the running stack.")] = False,
    as_json: JsonOption = False,
):
    """Score a data set in batch on Dask, with validation, drift and a recorded run."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    if via_airflow:
        _score_via_airflow(ref, input_path, output_path, policy, fmt)
        return

    from cli.output import scoring_summary
    from pipelines.scoring import ScoringRequest, log_to_mlflow, score_batch
    from registry.settings import get_settings
    from stack.platform import dask_address

    check_policy(policy)
    request = ScoringRequest(model_ref=ref, input_path=input_path, output_path=output_path, policy=policy,
                             output_format=fmt, run_id=run_id, key_columns=key)
    settings = get_settings()  # on the platform's warm Dask cluster when it runs, else a local one for this run
    settings = settings.model_copy(update={"dask_scheduler": dask_address(settings)})
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=errors, disable=as_json) as bar:
        task = bar.add_task("scoring partitions", total=None)
        result = score_batch(request, settings=settings,
                             progress=lambda done, total: bar.update(task, completed=done, total=total))
    log_to_mlflow(result, settings)
    show(result, as_json, scoring_summary)


def _score_via_airflow(ref: str, input_path: str, output_path: str, policy: str, fmt: str) -> None:
    from stack.airflow import running_api
    from registry.settings import get_settings

    conf = {"model_ref": ref, "input_path": input_path, "output_path": output_path, "policy": policy,
            "output_format": fmt}
    with running_api(get_settings()) as api:
        run_dag(api, BATCH_SCORING_DAG, conf, timeout=3600)


def run_dag(api, dag_id: str, conf: dict, *, timeout: float) -> None:
    """Trigger ``dag_id`` with ``conf``, wait for it, print its tasks; exit 1 unless it succeeded."""
    run_id = api.trigger(dag_id, conf)
    console.print(f"triggered {dag_id} run {run_id}; waiting for it")
    state = api.wait_for_run(dag_id, run_id, timeout=timeout)
    tasks = api.task_states(dag_id, run_id)
    console.print(f"run {run_id}: [bold]{state}[/bold] ({', '.join(f'{t} {s}' for t, s in tasks.items())})")
    if state != "success":
        raise typer.Exit(1)


@handles_errors
def runs(
    model: Annotated[Optional[str], typer.Option(help="Only this model's runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: JsonOption = False,
):
    """Recent batch scoring runs with their row counts, speed and status."""
    from cli.output import runs_table
    from registry.scoring_runs import list_scoring_runs

    show(list_scoring_runs(model, limit=limit), as_json, runs_table)


@handles_errors
def associate(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS follows the alias at each run; NAME/VERSION pins.")],
    input_path: Annotated[str, typer.Option("--input", "-i", help="Input file, folder or glob, under a data root.")],
    output_path: Annotated[str, typer.Option("--output", "-o", help="Output folder under a data root; Airflow templates like {{ ds }} allowed.")],
    workflow: Annotated[str, typer.Option(help="The scoring workflow (DAG) to plug into.")] = BATCH_SCORING_DAG,
    schedule: Annotated[Optional[str], typer.Option(help="Cron expression or preset (@daily); none: on demand.")] = None,
    policy: Annotated[str, typer.Option(help="|".join(POLICIES))] = "fail",
    name: Annotated[Optional[str], typer.Option(help="Association name (DAG id score__NAME).")] = None,
    key: Annotated[Optional[list[str]], typer.Option(help="Column to pass through (repeatable).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="|".join(FORMATS))] = "parquet",
    as_json: JsonOption = False,
):
    """Associate a model with a scoring workflow; a scheduled DAG appears for it."""
    from registry.associations import create_association

    info = create_association(ref, workflow=workflow, input_path=input_path, output_path=output_path,
                              schedule=schedule, policy=policy, name=name, output_format=fmt, key_columns=key)
    show(info, as_json, lambda info: f"associated {info.model_ref} with {info.workflow} as DAG "
                                     f"[bold]{info.dag_id}[/bold] ({info.schedule or 'on demand'})")


@associations.command("list")
@handles_errors
def associations_list(
    model: Annotated[Optional[str], typer.Option(help="Only this model's associations.")] = None,
    as_json: JsonOption = False,
):
    """Every association with its DAG id, schedule and data locations."""
    from cli.output import associations_table
    from registry.associations import list_associations

    show(list_associations(model), as_json, associations_table)  # dag_id, a computed field, is in the JSON


@associations.command("remove")
@handles_errors
def associations_remove(name: str):
    """Remove an association; its DAG is paused at once (when the platform runs) and leaves
    Airflow's list at the next parse."""
    from registry.associations import remove_association
    from registry.settings import get_settings
    from stack.airflow import pause_removed_dag

    settings = get_settings()
    info = remove_association(name, settings)
    paused = pause_removed_dag(settings, info.dag_id)
    console.print(f"removed association {info.name} ({info.dag_id})"
                  + ("; its DAG is paused now, no run of it starts" if paused else ""))
