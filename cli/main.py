"""``modelyard``: manage the model repository, batch scoring and its workflows from a terminal.

Commands import their heavy libraries when they run, so ``--help`` stays instant. The command
groups live in their own modules; this one assembles them and holds the top-level jobs.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cli.common import JsonOption, handles_errors, print_json
from cli.models import models
from cli.output import console
from cli.scoring import associate, associations, run_dag, runs, score
from cli.serving import deploy, deployments, rollback, undeploy
from cli.stack_commands import stack

app = typer.Typer(no_args_is_help=True, help="Modelyard: model repository, batch and online serving.")
db = typer.Typer(no_args_is_help=True, help="The metadata database.")
app.add_typer(models, name="models")
app.add_typer(db, name="db")
app.add_typer(associations, name="associations")
app.add_typer(stack, name="stack")
app.add_typer(deployments, name="deployments")
app.command()(score)
app.command()(runs)
app.command()(associate)
app.command()(deploy)
app.command()(rollback)
app.command()(undeploy)


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
        print_json([result.model_dump() for result in results])
        return
    for result in results:
        console.print(f"registered [bold]{result.ref}[/bold] ({result.flavor}, {result.task})")


@app.command()
@handles_errors
def demo(
    airflow: Annotated[bool, typer.Option(help="Also run the batch_scoring DAG in the embedded Airflow.")] = True,
    port: Annotated[int, typer.Option(help="Port for the embedded Airflow on 127.0.0.1.")] = 8080,
):
    """The main job on embedded defaults: train, import, document, batch-score, schedule, serve."""
    from cli.output import models_table, scoring_summary
    from pipelines.demo import ask_endpoint, run_demo

    result = run_demo(progress=lambda message: console.print(f"[dim]-[/dim] {message}"))
    console.print(models_table(result.models))
    for part in scoring_summary(result.scoring):
        console.print(part)
    console.print(f"ModelDoc: [bold]{result.modeldoc}[/bold]")
    console.print(f"Download: [bold]{result.download}[/bold]")
    console.print(f"Scheduled workflow: DAG [bold]{result.association.dag_id}[/bold] ({result.association.schedule})")
    name = result.scoring.model_name
    if airflow:
        _demo_airflow(result, port)  # deploys through the deploy_model DAG, as the Models page does
    else:
        from bento_services.deploy import deploy_model
        from registry.settings import get_settings

        console.print(f"[dim]-[/dim] deploying {name}@champion as an online service")
        deploy_model(f"{name}@champion", settings=get_settings())
    answer = ask_endpoint(name)
    console.print(f"Online: [bold]{answer.url}[/bold] serves {name}/{answer.model_version}; "
                  f"POST /predict -> {answer.predict}; V2 infer -> {answer.v2}")
    console.print(f"Stop it with `modelyard undeploy {name}`; roll back with `modelyard rollback {name}`.")


def _demo_airflow(result, port: int) -> None:
    """Run batch_scoring and deploy_model as DAG runs through the REST API of the embedded Airflow,
    which is left running with the Models page (a stack this home already runs is reused)."""
    from cli.stack.airflow import AirflowStackError, admin_password, running_api, start
    from registry.settings import get_settings

    settings = get_settings()
    try:
        api = running_api(settings)
        console.print(f"[dim]-[/dim] using the embedded Airflow already running at {api.base_url}")
    except AirflowStackError:
        console.print("[dim]-[/dim] starting the embedded Airflow (scheduler, dag-processor, api-server with the Models page)")
        api = start(settings, api_port=port).api()
    with api:
        api.wait_for_dag("batch_scoring", timeout=120)
        conf = {"model_ref": f"{result.scoring.model_name}@champion", "input_path": result.scoring.input_path,
                "output_path": result.scoring.output_path.replace("scored", "scored_by_airflow"),
                "policy": "quarantine", "output_format": "parquet"}
        run_dag(api, "batch_scoring", conf, timeout=900)
        api.wait_for_dag("deploy_model", timeout=120)
        run_dag(api, "deploy_model", {"model_ref": f"{result.scoring.model_name}@champion", "port": 0}, timeout=600)
    console.print(f"Models page: [bold]{api.base_url}/plugin/models[/bold] (login admin, password "
                  f"{admin_password(settings)}); Airflow stays up: `modelyard stack down` stops it.")


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

    print_json(get_settings().model_dump(mode="json"))


if __name__ == "__main__":
    app()
