"""Deploy or roll back a serving model into its warm spares (``bento_services.spares``).

``swap`` is what ``deploy_model`` and ``rollback`` try first for a model that is serving: it
takes one ready spare per replica, has them load the version, checks parity at each, and
promotes them as any launch (gateway switched, alias moved, the old deployment drained and
retired). The version's bento is built afterwards, in the background (``build_bento_later``):
a restart and another machine use it, the switch does not wait for it. Without enough ready
spares (a first deploy, spares still warming, ``serve_spares`` off) it returns None and the
caller runs the cold chain. Spares still warming up are waited for (``spares.WARMING_WAIT``).

A failed load or parity check stops the spares that were taken, records the deployment as
failed at that step and leaves the current one serving, as the cold chain does.
"""

from __future__ import annotations

import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from bento_services import spares
from bento_services.bentos import bento_dir, bentoml_env
from bento_services.model_lock import model_lock
from bento_services.servers import stop_servers, version_dir
from bento_services.steps import Build, DeployContext, DeploymentError, Launch, rollback_target, run_step
from infra.processes import launch
from registry.deployments import DeploymentInfo, record_failed, replicas_of, running
from registry.errors import error_named
from registry.refs import ModelRef, parse_ref
from registry.settings import Settings

logger = logging.getLogger(__name__)


def swap(ref: str, ctx: DeployContext, *, prepared: bool = False, bento_tag: str | None = None) -> DeploymentInfo | None:
    """Serve ``ref`` from the model's spares; None when it has too few ready (the caller builds).
    ``prepared``: ``ref`` is one exact version an earlier deploy prepared (a rollback), so the
    spares load its snapshot instead of resolving and building it again; ``bento_tag`` its bento,
    recorded as it is if it is still in the store (else built again, after the switch)."""
    settings, model_ref = ctx.settings, parse_ref(ref)
    current = running(model_ref.name, settings=settings)
    if not current or (prepared and not (version_dir(settings, model_ref.name, model_ref.version) / "model").exists()):
        return None
    count = ctx.replicas or len(replicas_of(current[0]))
    with model_lock(model_ref.name, settings):  # two deploys at once never take the same spare
        taken = spares.take_ready(model_ref.name, count, settings, wait=spares.WARMING_WAIT)
    if taken is None:
        return None
    started = time.perf_counter()
    launched = _load(ref, taken, ctx, prepared=prepared)
    ctx.timings["load"] = time.perf_counter() - started
    if bento_tag and bento_dir(bento_tag, settings).exists():
        launched.build.bento_tag = bento_tag
    launched = run_step("check_parity", launched, ctx)
    ctx.move_alias = partial(spares.move_alias, taken[0])  # the loaded spare has MLflow imported; this process need not
    info = run_step("promote", launched, ctx)
    if not launched.build.bento_tag:
        build_bento_later(launched.build, info.id, ctx.actor, settings)
    return info


def swap_rollback(name: str, ctx: DeployContext) -> DeploymentInfo | None:
    """``swap`` to the version a rollback serves again (``steps.rollback_target``); None as ``swap``."""
    target = rollback_target(name, ctx.settings)
    return swap(str(ModelRef(name, target.model_version)), ctx, prepared=True, bento_tag=target.bento_tag)


def _load(ref: str, taken: list[spares.Spare], ctx: DeployContext, *, prepared: bool) -> Launch:
    """The first spare prepares the version (unless ``prepared``), then the others load it, all at once."""
    name = parse_ref(ref).name
    try:
        first = [] if prepared else [Build.model_validate(spares.load(taken[0], ref, prepare=True, runtime=ctx.runtime,
                                                                      actor=ctx.actor))]
        exact = str(ModelRef(first[0].model_name, first[0].model_version)) if first else ref
        with ThreadPoolExecutor(max_workers=len(taken)) as pool:
            loaded = list(pool.map(lambda spare: spares.load(spare, exact, prepare=False), taken[len(first):]))
        built = first[0] if first else Build.model_validate(loaded[0])
    except spares.SpareLoadError as error:
        if error.version is None and not prepared:  # nothing was loaded: the spares are spares still
            spares.give_back(name, taken, ctx.settings)
            raise error_named(error.kind, str(error)) from error
        stopped = stop_servers([spare.process_list() for spare in taken])
        spares.start_spares(name, len(taken), ctx.settings)
        version = error.version if error.version is not None else parse_ref(ref).version
        if ctx.record_failures:
            record_failed(model_name=name, model_version=version, bento_tag=None, port=taken[0].port,
                          processes=stopped, step="load", reason=str(error), actor=ctx.actor,
                          request_id=ctx.request_id, settings=ctx.settings)
        raise DeploymentError("load", str(ModelRef(name, version)), str(error)) from error
    return Launch(build=built, replicas=[spare.as_replica() for spare in taken])


def build_bento_later(built: Build, deployment_id: int, actor: str, settings: Settings) -> None:
    """``bentoml build`` the version in its own detached process, which then records the bento
    on the deployment with a ``bento_built`` event, or a ``bento_build_failed`` one
    (``bento_services.bento_build --deployment-id``); its log is the version folder's ``bento_build.log``."""
    command = [sys.executable, "-m", "bento_services.bento_build", "--model-dir", built.model_dir,
               "--name", built.model_name, "--version", str(built.model_version),
               "--deployment-id", str(deployment_id), "--actor", actor]
    env = {**bentoml_env(settings), **settings.as_environment()}
    log = version_dir(settings, built.model_name, built.model_version) / "bento_build.log"
    launch(f"bento-build-{built.model_name}-v{built.model_version}", command, env=env, log=log)

