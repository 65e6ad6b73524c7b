"""Deploy, roll back and undeploy in this process: the serving chains run step after step.

The CLI calls these; the ``deploy_model``, ``rollback_model`` and ``undeploy_model`` DAGs run
the same steps one task each (``bento_services.chain``, ``bento_services.steps``), and the
Models page asks for those DAG runs (``bento_services.serving_requests``).
"""

from __future__ import annotations

from bento_services import chain, endpoints, swaps
from bento_services.steps import DeployContext, Undeployed, run_chain, run_step
from registry.deployments import DeploymentInfo
from registry.refs import parse_ref
from registry.runtimes import RuntimeRequest
from registry.settings import Settings


def deploy_model(ref: str, *, settings: Settings, actor: str | None = None, port: int | None = None,
                 replicas: int | None = None, runtime: RuntimeRequest = "auto",
                 timings: dict[str, float] | None = None) -> DeploymentInfo:
    """Serve the version ``ref`` means now; it becomes ``production`` once checked.

    ``port`` is the model's stable endpoint port: the first deploy takes it (default: the first
    free port from 3000), later deploys and rollbacks keep it. It is checked before building.
    ``replicas`` servers run behind it (default: the setting ``serve_replicas``).
    ``runtime``: ``auto`` serves a compiled runtime where it passes parity and is faster
    (``registry.compiling``); ``native`` always the model's own library.
    A model that is serving loads the version into its warm spares when it has them
    (``bento_services.swaps``: seconds); otherwise, and for a first deploy, new servers start.
    ``timings``, when given, receives the seconds each step took."""
    endpoints.endpoint_port(parse_ref(ref).name, port, settings)  # a port clash, before minutes of work
    ctx = _context(settings, actor, port=port, replicas=replicas, runtime=runtime)
    try:
        return swaps.swap(ref, ctx) or run_chain(chain.DEPLOY, ref, ctx)
    finally:
        if timings is not None:
            timings.update(ctx.timings)


def rollback(name: str, *, settings: Settings, actor: str | None = None,
             timings: dict[str, float] | None = None) -> DeploymentInfo:
    """Serve again the version that was deployed before the current one: loaded into the model's
    spares when it has them, else from its bento. ``timings`` as for ``deploy_model``."""
    ctx = _context(settings, actor, action="rolled_back")
    try:
        return swaps.swap_rollback(name, ctx) or run_chain(chain.ROLLBACK, name, ctx)
    finally:
        if timings is not None:
            timings.update(ctx.timings)


def undeploy(name: str, *, settings: Settings, actor: str | None = None) -> Undeployed:
    """Stop the model's gateway and running deployment by their PIDs, free its port and remove
    ``production``; files and bentos stay."""
    return run_step("undeploy", name, _context(settings, actor))


def _context(settings: Settings, actor: str | None, **fields) -> DeployContext:
    return DeployContext(settings=settings, actor=actor or settings.user, **fields)
