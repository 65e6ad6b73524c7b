"""``modelyard``: manage the model repository, batch scoring and its workflows from a terminal.

Commands import their heavy libraries when they run, so ``--help`` stays instant. The command
groups live in their own modules; this one assembles them and holds the top-level jobs.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cli.challenges import challenge, retrain
from cli.common import JsonOption, handles_errors
from cli.models import models
from cli.monitoring import labels, monitor
from cli.output import console, print_json, show
from cli.scoring import associate, associations, run_dag, runs, score
from cli.serving import deploy, deployments, rollback, undeploy
from cli.users import users
from cli.platform_commands import down, status, up

app = typer.Typer(no_args_is_help=True, help="Modelyard: model repository, batch and online serving.")
db = typer.Typer(no_args_is_help=True, help="The metadata database.")
app.add_typer(models, name="models")
app.add_typer(db, name="db")
app.add_typer(associations, name="associations")
app.add_typer(deployments, name="deployments")
app.add_typer(users, name="users")
app.add_typer(labels, name="labels")
app.add_typer(challenge, name="challenge")
app.command()(score)
app.command()(runs)
app.command()(associate)
app.command()(deploy)
app.command()(rollback)
app.command()(undeploy)
app.command()(monitor)
app.command()(retrain)
app.command()(up)
app.command()(status)
app.command()(down)


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
    show(train_demo_models(model or None), as_json, lambda results: [
        f"registered [bold]{result.ref}[/bold] ({result.flavor}, {result.task})" for result in results])


@app.command()
@handles_errors
def demo(
    platform: Annotated[bool, typer.Option(
        help="Also start the platform (MLflow UI, Dask cluster, Airflow with the Models page), run the "
             "batch_scoring and deploy_model DAGs on it, and leave it running.")] = True,
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
    if platform:
        _demo_platform(result)  # deploys through the deploy_model DAG, as the Models page does
    else:
        from bento_services.deploy import deploy_model
        from registry.settings import get_settings

        console.print(f"[dim]-[/dim] deploying {name}@champion as an online service")
        deploy_model(f"{name}@champion", settings=get_settings())
    answer = ask_endpoint(name)
    console.print(f"Online: [bold]{answer.url}[/bold] serves {name}/{answer.model_version}; "
                  f"POST /predict -> {answer.predict}; V2 infer -> {answer.v2}")
    _demo_monitoring(name, platform)
    console.print(f"Stop it with `modelyard undeploy {name}`; roll back with `modelyard rollback {name}`.")


def _demo_monitoring(name: str, platform: bool) -> None:
    """Live traffic with drift in it, its labels, and one monitoring pass: by the monitor_deployments
    DAG on the platform (its task fails on alerts, by design), else in this process."""
    from pipelines.demo import send_monitored_traffic
    from pipelines.monitoring.monitor import monitor_model
    from pipelines.monitoring.overview import monitoring_overview
    from registry.settings import get_settings

    settings = get_settings()
    console.print(f"[dim]-[/dim] sending live traffic to {name} (three features drift halfway) and its labels")
    sent = send_monitored_traffic(name, settings)
    if platform:
        from stack.airflow import running_api

        with running_api(settings) as api:
            api.wait_for_dag("monitor_deployments", timeout=120)
            run_id = api.trigger("monitor_deployments", {"model": name})
            state = api.wait_for_run("monitor_deployments", run_id, timeout=600)
        console.print(f"monitor_deployments run {run_id}: [bold]{state}[/bold]"
                      + (" (its task fails when a pass raises alerts, so Airflow's alerting applies)"
                         if state == "failed" else ""))
    else:
        monitor_model(settings, name, actor=settings.user)
    latest = monitoring_overview(settings, name).latest
    if latest is None:
        console.print(f"[red]no monitoring record for {name}[/red]")
        raise typer.Exit(1)
    figures = latest.figures
    console.print(f"Monitoring: {figures.requests} requests in the window, drifted features "
                  f"{', '.join(figures.drifted_features) or 'none'} (sent drifted: {', '.join(sent.drifted_features)}), "
                  f"{len(latest.alerts)} alert(s), accuracy on {figures.labelled_rows} labelled rows "
                  f"{figures.metrics.get('accuracy', float('nan')):.3f}")
    where = f"the Models page (Models > All Models > {name} > Monitoring)" if platform else "the Models page"
    console.print(f"See it in {where}, with `modelyard monitor {name}`, and as MLflow metrics.")


def _demo_platform(result) -> None:
    """Bring the platform up (what already runs is reused) and run batch_scoring and deploy_model
    as DAG runs through Airflow's REST API; the platform is left running."""
    from bento_services.chain import DEPLOY_DAG
    from cli.platform_commands import print_platform
    from registry.scoring_options import BATCH_SCORING_DAG
    from registry.settings import get_settings
    from stack.airflow import running_api
    from stack.platform import status, up

    settings = get_settings()
    console.print("[dim]-[/dim] starting the platform: MLflow UI, Dask cluster, Airflow with the Models page")
    up(settings)
    with running_api(settings) as api:
        api.wait_for_dag(BATCH_SCORING_DAG, timeout=120)
        conf = {"model_ref": f"{result.scoring.model_name}@champion", "input_path": result.scoring.input_path,
                "output_path": result.scoring.output_path.replace("scored", "scored_by_airflow"),
                "policy": "quarantine", "output_format": "parquet"}
        run_dag(api, BATCH_SCORING_DAG, conf, timeout=900)
        api.wait_for_dag(DEPLOY_DAG, timeout=120)
        run_dag(api, DEPLOY_DAG, {"model_ref": f"{result.scoring.model_name}@champion", "port": 0}, timeout=600)
    print_platform(status(settings))
    console.print("The platform stays up: `modelyard status` shows it, `modelyard down` stops it.")


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
