"""Online serving from the command line: ``deploy``, ``rollback``, ``undeploy``, ``deployments``.

``cli.main`` registers ``deploy``, ``rollback`` and ``undeploy`` as top-level commands.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from cli.common import JsonOption, handles_errors
from cli.output import console, errors, show

class Runtime(str, Enum):
    auto = "auto"
    native = "native"


deployments = typer.Typer(no_args_is_help=True, help="Online deployments of model versions.")


@handles_errors
def deploy(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION to serve.")],
    port: Annotated[int | None, typer.Option(
        help="The model's endpoint port on 127.0.0.1 (first deploy only; default: first free from 3000).")] = None,
    replicas: Annotated[int | None, typer.Option(
        min=1, max=16, help="BentoML servers behind the endpoint (default: MODELYARD_SERVE_REPLICAS, 2).")] = None,
    runtime: Annotated[Runtime, typer.Option(
        help="auto: a compiled runtime (e.g. ONNX Runtime) where it gives the model's answers faster; "
             "native: the model's own library.")] = Runtime.auto,
    as_json: JsonOption = False,
):
    """Serve the version, check it, then point `production` at it: loaded into the model's warm
    spares when it is serving (seconds), else built and launched."""
    from bento_services.deploy import deploy_model
    from registry.settings import get_settings

    errors.print(f"[dim]-[/dim] deploying {ref}: load (into warm spares, or build and launch), parity check, promote")
    show(deploy_model(ref, port=port, replicas=replicas, runtime=runtime.value, settings=get_settings()), as_json,
         _serves_line)


@handles_errors
def rollback(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    as_json: JsonOption = False,
):
    """Serve the previously deployed version again at the same URL (loaded into warm spares, or from its bento)."""
    from bento_services.deploy import rollback as roll_back
    from registry.settings import get_settings

    errors.print(f"[dim]-[/dim] rolling {name} back: load (into warm spares, or launch its bento), parity check, promote")
    show(roll_back(name, settings=get_settings()), as_json, _serves_line)


def _serves_line(info) -> str:
    bento = f"bento {info.bento_tag}" if info.bento_tag else "loaded into warm spares, its bento building"
    return (f"{info.model_name}/{info.model_version} serves at [bold]{info.url}[/bold] "
            f"({len(info.replicas)} replica{'s' if len(info.replicas) != 1 else ''}, {bento}); "
            f"alias production -> {info.model_version}"
            + (f"\n  runtime {info.runtime.summary}" if info.runtime else ""))


@handles_errors
def undeploy(name: Annotated[str, typer.Argument(help="Registered model name.")], as_json: JsonOption = False):
    """Stop a model's running deployment, free its port and remove its `production` alias
    (its artifacts and bento stay; the next deploy sets `production` again)."""
    from bento_services.deploy import undeploy as stop_deployment
    from registry.settings import get_settings

    show(stop_deployment(name, settings=get_settings()), as_json,
         lambda done: f"{done.message} ({done.deployment.url} no longer answers)")


@deployments.command("list")
@handles_errors
def deployments_list(as_json: JsonOption = False):
    """Every deployment, newest first, with a live health check of the running ones."""
    from cli.output import deployments_table
    from registry.deployments import list_deployments
    from registry.settings import get_settings

    show(list_deployments(settings=get_settings()), as_json, deployments_table)


@deployments.command("reconcile")
@handles_errors
def deployments_reconcile(as_json: JsonOption = False):
    """Restart the server or gateway of any running deployment whose process died."""
    from bento_services.reconcile import reconcile
    from registry.settings import get_settings

    show(reconcile(settings=get_settings()), as_json, _print_repairs)


def _print_repairs(repairs) -> None:
    """Each repair, and exit code 1 when one failed."""
    for repair in repairs:
        console.print(f"{repair.model_name}/{repair.model_version} (deployment {repair.deployment_id}): "
                      f"{repair.action} {repair.detail}".rstrip())
    if not repairs:
        console.print("no running deployments")
    if any(repair.action == "failed" for repair in repairs):
        raise typer.Exit(1)
