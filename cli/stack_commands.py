"""``modelyard stack up|down``: the embedded Airflow, started and stopped by recorded PIDs."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import handles_errors
from cli.output import console

stack = typer.Typer(no_args_is_help=True, help="The embedded Airflow (scheduler, dag-processor, UI) on loopback.")


@stack.command("up")
@handles_errors
def stack_up(port: Annotated[int, typer.Option(help="Port of the Airflow UI and REST API on 127.0.0.1.")] = 8080):
    """Start Airflow's scheduler, dag-processor and api-server in the background (PIDs recorded),
    and bring back any deployment whose server died since (deployments are desired state)."""
    from bento_services.reconcile import reconcile
    from cli.stack.airflow import start
    from registry.settings import get_settings

    started = start(get_settings(), api_port=port)
    console.print(f"Airflow is up at {started.base_url} (user {started.username}, password {started.password})")
    for repair in reconcile(settings=get_settings()):
        console.print(f"deployment {repair.model_name}/{repair.model_version}: {repair.action} {repair.detail}".rstrip())
    console.print("stop it with `modelyard stack down`")


@stack.command("down")
@handles_errors
def stack_down():
    """Stop the stack this home started, by the PIDs it recorded."""
    from cli.stack.airflow import stop_recorded
    from registry.settings import get_settings

    stopped = stop_recorded(get_settings())
    console.print(f"stopped {', '.join(p.name for p in stopped) or 'nothing (no stack was running)'}")
