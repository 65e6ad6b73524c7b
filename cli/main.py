"""``modelyard``: manage the model repository from a terminal.

Commands import their heavy libraries when they run, so ``--help`` stays instant.
"""

from __future__ import annotations

import functools
import json
import logging
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.output import console, errors

app = typer.Typer(no_args_is_help=True, help="Modelyard: model repository, batch and online serving.")
models = typer.Typer(no_args_is_help=True, help="List, import, document and download models.")
db = typer.Typer(no_args_is_help=True, help="The metadata database.")
app.add_typer(models, name="models")
associations = typer.Typer(no_args_is_help=True, help="Models plugged into scoring workflows.")
stack = typer.Typer(no_args_is_help=True, help="The embedded Airflow (scheduler, dag-processor, UI) on loopback.")
app.add_typer(stack, name="stack")
app.add_typer(db, name="db")
app.add_typer(associations, name="associations")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _quiet_libraries() -> None:
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in ("mlflow.utils.environment", "mlflow.store.db.utils", "alembic.runtime.migration",
                 "mlflow.models.model"):
        logging.getLogger(name).setLevel(logging.ERROR)


def handles_errors(command):
    """Turn Modelyard's errors into one line on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from cli.stack.airflow import AirflowApiError, AirflowStackError
        from registry.errors import ModelyardError

        _quiet_libraries()
        try:
            return command(*args, **kwargs)
        except (ModelyardError, AirflowStackError, AirflowApiError) as error:
            errors.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _print_json(value) -> None:
    print(value if isinstance(value, str) else json.dumps(value, indent=2, default=str))


@app.command()
@handles_errors
def train(
    model: Annotated[Optional[list[str]], typer.Option(help="Demo model to train (repeatable).")] = None,
    as_json: JsonOption = False,
):
    """Train the demo models and register them with their metrics."""
    from pipelines.training import DEMO_MODELS, train_demo_models
    from registry.errors import ModelNotFoundError

    unknown = [name for name in model or [] if name not in DEMO_MODELS]
    if unknown:
        raise ModelNotFoundError(f"unknown demo model {unknown[0]!r}: choose from {', '.join(DEMO_MODELS)}")
    results = train_demo_models(model or None)
    if as_json:
        _print_json([result.model_dump() for result in results])
        return
    for result in results:
        console.print(f"registered [bold]{result.ref}[/bold] ({result.flavor}, {result.task})")


@app.command()
@handles_errors
def demo(
    airflow: Annotated[bool, typer.Option(help="Also run the batch_scoring DAG in the embedded Airflow.")] = True,
    port: Annotated[int, typer.Option(help="Port for the embedded Airflow on 127.0.0.1.")] = 8080,
):
    """The main job on embedded defaults: train, import, document, batch-score, schedule."""
    from cli.output import models_table, scoring_summary
    from pipelines.demo import run_demo

    result = run_demo(progress=lambda message: console.print(f"[dim]-[/dim] {message}"))
    console.print(models_table(result.models))
    for part in scoring_summary(result.scoring):
        console.print(part)
    console.print(f"ModelDoc: [bold]{result.modeldoc}[/bold]")
    console.print(f"Download: [bold]{result.download}[/bold]")
    console.print(f"Scheduled workflow: DAG [bold]{result.association.dag_id}[/bold] ({result.association.schedule})")
    if airflow:
        _demo_airflow(result, port)


def _demo_airflow(result, port: int) -> None:
    """Start the embedded Airflow, run batch_scoring as a DAG run through the REST API, stop it."""
    from cli.stack.airflow import start
    from registry.settings import get_settings

    console.print("[dim]-[/dim] starting the embedded Airflow and triggering batch_scoring")
    stack = start(get_settings(), api_port=port)
    try:
        with stack.api() as api:
            api.wait_for_dag("batch_scoring", timeout=120)
            conf = {"model_ref": f"{result.scoring.model_name}@champion", "input_path": result.scoring.input_path,
                    "output_path": result.scoring.output_path.replace("scored", "scored_by_airflow"),
                    "policy": "quarantine", "output_format": "parquet"}
            run_id = api.trigger("batch_scoring", conf)
            state = api.wait_for_run("batch_scoring", run_id, timeout=900)
            tasks = api.task_states("batch_scoring", run_id)
        console.print(f"Airflow run {run_id}: [bold]{state}[/bold] ({', '.join(f'{t} {s}' for t, s in tasks.items())})")
        if state != "success":
            raise typer.Exit(1)
    finally:
        stack.stop()
    console.print("Browse it yourself: `modelyard stack up`, then open http://127.0.0.1:8080 (user admin).")


@db.command("upgrade")
@handles_errors
def db_upgrade():
    """Apply pending migrations to the metadata database."""
    from registry.metadata.db import engine_for
    from registry.settings import get_settings

    url = get_settings().database_url
    engine_for(url)
    console.print(f"metadata database at {url} is up to date")


@app.command("settings")
def show_settings():
    """Print the effective settings (environment overrides applied)."""
    from registry.settings import get_settings

    _print_json(get_settings().model_dump(mode="json"))


@models.command("list")
@handles_errors
def models_list(as_json: JsonOption = False):
    """Every model with its latest version, aliases, flavor and key validation metric."""
    from cli.output import models_table
    from registry.catalog import list_models

    result = list_models()
    if as_json:
        _print_json([model.model_dump(mode="json") for model in result])
    else:
        console.print(models_table(result))


@models.command("show")
@handles_errors
def models_show(ref: Annotated[str, typer.Argument(help="NAME, NAME/VERSION or NAME@ALIAS")], as_json: JsonOption = False):
    """One version with parameters, metrics, signature, lineage and events."""
    from cli.output import version_panel
    from registry.catalog import show_version

    detail = show_version(ref)
    if as_json:
        _print_json(detail.model_dump_json(indent=2))
    else:
        for part in version_panel(detail):
            console.print(part)


@models.command("alias")
@handles_errors
def models_alias(ref: str, alias: str):
    """Point ALIAS (e.g. champion) at the version REF means."""
    from registry.catalog import set_alias

    detail = set_alias(ref, alias)
    console.print(f"{detail.name}@{alias} -> version {detail.version}")


@models.command("describe")
@handles_errors
def models_describe(ref: str, text: Annotated[str, typer.Argument(help="The description (Markdown allowed).")]):
    """Set a version's description; it survives ModelDoc regeneration."""
    from registry.catalog import set_description

    detail = set_description(ref, text)
    console.print(f"description of {detail.ref} updated")


@models.command("import")
@handles_errors
def models_import(
    path: Annotated[Path, typer.Argument(help="Model file or MLflow model folder.")],
    name: Annotated[str, typer.Option("--name", help="Registered model name.")],
    flavor: Annotated[str, typer.Option(help="auto|sklearn|onnx|xgboost|lightgbm|mlflow")] = "auto",
    sample: Annotated[Optional[Path], typer.Option(help="CSV or Parquet sample: signature, example, profile.")] = None,
    target: Annotated[Optional[str], typer.Option(help="Label column in the sample: computes validation metrics.")] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow pickle/joblib files (they run code).")] = False,
    trust_type: Annotated[Optional[list[str]], typer.Option("--trust-type", help="A skops type to trust (repeatable).")] = None,
    new_version: Annotated[bool, typer.Option("--new-version", help="Add a version to an existing model.")] = False,
    description: Annotated[Optional[str], typer.Option(help="Description of the imported version.")] = None,
    as_json: JsonOption = False,
):
    """Import an external model and register it, or fail with nothing registered."""
    from registry.importing import import_model

    result = import_model(
        path, name, flavor=flavor, sample=sample, target=target, trust_pickle=trust_pickle,
        trusted_types=trust_type or [], new_version=new_version, description=description,
    )
    if as_json:
        _print_json(result.model_dump_json(indent=2))
        return
    console.print(f"imported [bold]{result.ref}[/bold] ({result.flavor}, {result.task})")
    for key, value in result.metrics.items():
        console.print(f"  {key}: {value:.4g}")


@models.command("expect")
@handles_errors
def models_expect(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    expectation: Annotated[Optional[str], typer.Argument(help="GX expectation type, e.g. expect_column_values_to_be_between.")] = None,
    kwargs: Annotated[str, typer.Option("--kwargs", help='JSON arguments, e.g. \'{"column": "age", "min_value": 0}\'.')] = "{}",
    remove: Annotated[Optional[int], typer.Option(help="Remove the expectation with this id.")] = None,
    as_json: JsonOption = False,
):
    """Attach an extra input expectation to a model (or list them, or --remove ID)."""
    from registry.errors import ModelyardError
    from registry.expectations import attach_expectation, list_expectations, remove_expectation

    if remove is not None:
        info = remove_expectation(remove)
        console.print(f"removed expectation {info.id} ({info.expectation_type}) from {info.model_name}")
        return
    if expectation is not None:
        try:
            arguments = json.loads(kwargs)
        except json.JSONDecodeError as error:
            raise ModelyardError(f"--kwargs is not valid JSON: {error}") from None
        info = attach_expectation(name, expectation, arguments)
        console.print(f"attached expectation {info.id} to {name}: {expectation} {json.dumps(arguments)}")
        return
    found = list_expectations(name)
    if as_json:
        _print_json([item.model_dump(mode="json") for item in found])
    for item in [] if as_json else found:
        console.print(f"{item.id}: {item.expectation_type} {json.dumps(item.kwargs)}")


@models.command("download")
@handles_errors
def models_download(
    ref: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="The .zip file to write.")],
):
    """Export a version's artifacts, ModelDoc, requirements and checksummed manifest as a zip."""
    from registry.download import download_model

    result = download_model(ref, output)
    console.print(f"wrote {result.path} ({len(result.files)} files, {result.bytes} bytes) for {result.name}/{result.version}")


@models.command("doc")
@handles_errors
def models_doc(
    ref: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="html|md|json")] = "html",
):
    """Write the ModelDoc of a version."""
    from registry.errors import ModelyardError
    from registry.modeldoc import build_modeldoc, write_modeldoc

    if fmt not in ("html", "md", "json"):
        raise ModelyardError(f"unknown format {fmt!r}: choose html, md or json")
    written = write_modeldoc(build_modeldoc(ref), fmt, output)
    console.print(f"wrote {written[0]}" + (f" and {len(written) - 1} plots" if len(written) > 1 else ""))


@app.command()
@handles_errors
def score(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION (pinned once per run).")],
    input_path: Annotated[str, typer.Option("--input", "-i", help="Parquet/CSV file, folder or glob; local or s3://.")],
    output_path: Annotated[str, typer.Option("--output", "-o", help="Output folder (replaced atomically).")],
    policy: Annotated[str, typer.Option(help="fail: stop on invalid rows; quarantine: score the valid ones.")] = "fail",
    fmt: Annotated[str, typer.Option("--format", help="parquet|csv")] = "parquet",
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

    if policy not in ("fail", "quarantine"):
        from registry.errors import ModelyardError

        raise ModelyardError(f"unknown policy {policy!r}: choose fail or quarantine")
    request = ScoringRequest(model_ref=ref, input_path=input_path, output_path=output_path, policy=policy,
                             output_format=fmt, run_id=run_id, key_columns=key)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=errors, disable=as_json) as bar:
        task = bar.add_task("scoring partitions", total=None)
        result = score_batch(request, progress=lambda done, total: bar.update(task, completed=done, total=total))
    log_to_mlflow(result)
    if as_json:
        _print_json(result.model_dump_json(indent=2))
    else:
        for part in scoring_summary(result):
            console.print(part)


def _score_via_airflow(ref: str, input_path: str, output_path: str, policy: str, fmt: str) -> None:
    from cli.stack.airflow import running_api
    from registry.settings import get_settings

    conf = {"model_ref": ref, "input_path": input_path, "output_path": output_path, "policy": policy,
            "output_format": fmt}
    with running_api(get_settings()) as api:
        run_id = api.trigger("batch_scoring", conf)
        console.print(f"triggered batch_scoring run {run_id}; waiting for it")
        state = api.wait_for_run("batch_scoring", run_id, timeout=3600)
        tasks = api.task_states("batch_scoring", run_id)
    console.print(f"run {run_id}: {state} ({', '.join(f'{t} {s}' for t, s in tasks.items())})")
    if state != "success":
        raise typer.Exit(1)


@stack.command("up")
@handles_errors
def stack_up(port: Annotated[int, typer.Option(help="Port of the Airflow UI and REST API on 127.0.0.1.")] = 8080):
    """Start Airflow's scheduler, dag-processor and api-server in the background (PIDs recorded)."""
    from cli.stack.airflow import start
    from registry.settings import get_settings

    started = start(get_settings(), api_port=port)
    console.print(f"Airflow is up at {started.base_url} (user {started.username}, password {started.password})")
    console.print("stop it with `modelyard stack down`")


@stack.command("down")
@handles_errors
def stack_down():
    """Stop the stack this home started, by the PIDs it recorded."""
    from cli.stack.airflow import stop_recorded
    from registry.settings import get_settings

    stopped = stop_recorded(get_settings())
    console.print(f"stopped {', '.join(p.name for p in stopped) or 'nothing (no stack was running)'}")


@app.command()
@handles_errors
def runs(
    model: Annotated[Optional[str], typer.Option(help="Only this model's runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: JsonOption = False,
):
    """Recent batch scoring runs with their row counts, speed and status."""
    from cli.output import runs_table
    from registry.scoring_runs import list_scoring_runs

    found = list_scoring_runs(model, limit=limit)
    if as_json:
        _print_json([run.model_dump(mode="json") for run in found])
    else:
        console.print(runs_table(found))


@app.command()
@handles_errors
def associate(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS follows the alias at each run; NAME/VERSION pins.")],
    input_path: Annotated[str, typer.Option("--input", "-i", help="Input file, folder or glob.")],
    output_path: Annotated[str, typer.Option("--output", "-o", help="Output folder; Airflow templates like {{ ds }} allowed.")],
    workflow: Annotated[str, typer.Option(help="The scoring workflow (DAG) to plug into.")] = "batch_scoring",
    schedule: Annotated[Optional[str], typer.Option(help="Cron expression or preset (@daily); none: on demand.")] = None,
    policy: Annotated[str, typer.Option(help="fail|quarantine")] = "fail",
    name: Annotated[Optional[str], typer.Option(help="Association name (DAG id score__NAME).")] = None,
    key: Annotated[Optional[list[str]], typer.Option(help="Column to pass through (repeatable).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet|csv")] = "parquet",
    as_json: JsonOption = False,
):
    """Associate a model with a scoring workflow; a scheduled DAG appears for it."""
    from registry.associations import create_association

    options = {"output_format": fmt, **({"key_columns": key} if key else {})}
    info = create_association(ref, workflow=workflow, input_path=input_path, output_path=output_path,
                              schedule=schedule, policy=policy, name=name, options=options)
    if as_json:
        _print_json(info.model_dump_json(indent=2))
    else:
        console.print(f"associated {info.model_ref} with {info.workflow} as DAG [bold]{info.dag_id}[/bold] "
                      f"({info.schedule or 'on demand'})")


@associations.command("list")
@handles_errors
def associations_list(
    model: Annotated[Optional[str], typer.Option(help="Only this model's associations.")] = None,
    as_json: JsonOption = False,
):
    """Every association with its DAG id, schedule and data locations."""
    from cli.output import associations_table
    from registry.associations import list_associations

    found = list_associations(model)
    if as_json:
        _print_json([association.model_dump(mode="json") | {"dag_id": association.dag_id} for association in found])
    else:
        console.print(associations_table(found))


@associations.command("remove")
@handles_errors
def associations_remove(name: str):
    """Remove an association; its DAG disappears at the next parse."""
    from registry.associations import remove_association

    info = remove_association(name)
    console.print(f"removed association {info.name} ({info.dag_id})")


if __name__ == "__main__":
    app()
