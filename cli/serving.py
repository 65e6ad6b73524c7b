"""Online serving from the command line: ``deploy``, ``deployments``, ``undeploy``.

``cli.main`` registers ``deploy`` and ``undeploy`` as top-level commands.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import JsonOption, handles_errors, print_json
from cli.output import console, errors

deployments = typer.Typer(no_args_is_help=True, help="Online deployments of model versions.")


@handles_errors
def deploy(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION to serve.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 for the HTTP endpoint.")] = 3000,
    as_json: JsonOption = False,
):
    """Build a bento for the version, serve it, check it, then point `production` at it."""
    from bento_services.deploy import deploy_model

    errors.print(f"[dim]-[/dim] deploying {ref}: build, launch, health check, parity check")
    info = deploy_model(ref, port=port)
    if as_json:
        print_json(info.model_dump_json(indent=2))
    else:
        console.print(f"{info.model_name}/{info.model_version} serves at [bold]{info.url}[/bold] "
                      f"(bento {info.bento_tag}); alias production -> {info.model_version}")


@handles_errors
def undeploy(name: Annotated[str, typer.Argument(help="Registered model name.")]):
    """Stop a model's running deployment (its artifacts and bento stay)."""
    from bento_services.deploy import undeploy as stop_deployment

    info = stop_deployment(name)
    console.print(f"stopped {info.model_name}/{info.model_version} ({info.url})")


@deployments.command("list")
@handles_errors
def deployments_list(as_json: JsonOption = False):
    """Every deployment, newest first, with a live health check of the running ones."""
    from cli.output import deployments_table
    from bento_services.deploy import list_deployments

    found = list_deployments()
    if as_json:
        print_json([deployment.model_dump(mode="json") for deployment in found])
    else:
        console.print(deployments_table(found))
