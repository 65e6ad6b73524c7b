"""``modelyard up | status | down``: the whole platform on this machine (``stack.platform``)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import JsonOption, handles_errors
from cli.output import console, deployments_table, platform_table, show


@handles_errors
def up(as_json: JsonOption = False):
    """Start on loopback what is not running yet: the MLflow UI, a Dask cluster, Airflow with the
    Models page; then bring back every deployment that should be serving. Safe to run again."""
    from registry.settings import get_settings
    from stack.platform import up as bring_up

    show(bring_up(get_settings()), as_json, print_platform)


@handles_errors
def status(as_json: JsonOption = False):
    """Each component with PID, URL, health and uptime, and the deployments with their health."""
    from registry.settings import get_settings
    from stack.platform import status as read_status

    show(read_status(get_settings()), as_json, print_platform)


@handles_errors
def down(
    deployments: Annotated[bool, typer.Option(
        "--deployments", help="Also stop the model servers (their deployments stay desired: `up` restarts them).")] = False,
    as_json: JsonOption = False,
):
    """Stop the platform's processes by the PIDs recorded under the home."""
    from registry.settings import get_settings
    from stack.platform import down as take_down

    show(take_down(get_settings(), deployments=deployments), as_json,
         lambda state: _print_stopped(state, deployments=deployments))


def _print_stopped(state, *, deployments: bool) -> None:
    """What stopped, and the deployments left serving (or stopped with ``--deployments``)."""
    for service in state.services:
        names = ", ".join(process.name for process in service.processes)
        console.print(f"{service.name}: {'stopped ' + names if names else 'was not running'}")
    serving = [d for d in state.deployments if d.status == "running"]
    if not deployments and serving:
        console.print(f"{len(serving)} deployment(s) keep serving; `modelyard down --deployments` stops them too")
    elif deployments:
        for each in serving:
            console.print(f"deployment {each.model_name}/{each.model_version}: stopped its servers at {each.url} "
                          "(still desired: `modelyard up` serves it again)", soft_wrap=True)


def print_platform(state) -> None:
    """The platform's table, repairs, deployments, and where to log in."""
    console.print(platform_table(state))
    for repair in state.repairs:
        console.print(f"deployment {repair.model_name}/{repair.model_version}: {repair.action} {repair.detail}".rstrip())
    if state.deployments:
        console.print(deployments_table(state.deployments))
    if state.models_page and state.login:
        console.print(f"Models page: [bold]{state.models_page}[/bold] (login {state.login.user}, password "
                      f"{state.login.password})")
    mlflow = next((p.url for s in state.services for p in s.processes if p.name == "mlflow-server"), None)
    if mlflow:
        console.print(f"MLflow UI: [bold]{mlflow}[/bold]")
    if not state.healthy:
        console.print("[yellow]some components are not healthy: see their logs under "
                      f"{state.home}/logs[/yellow]")
