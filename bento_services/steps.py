"""The serving steps, each defined once; ``bento_services.chain`` names them and their order.

A step takes what the step before it made (a reference or a model name to start) and a
``DeployContext`` (settings, who acts, the workflow run that asked), and returns what the next
one needs: ``build`` and ``previous_build`` make a ``Build``; ``launch``, ``check_health`` and
``check_parity`` pass a ``Launch`` on; ``promote`` records and routes it (``DeploymentInfo``).
``run_step`` runs one by name, so the CLI (a whole chain in one process) and the DAGs (one task
per step, values as JSON) compose the same code. A failure stops what was started (by PID),
records the deployment as failed with the step and the reason, and leaves the previous
deployment serving.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field

from bento_services import endpoints
from bento_services.bento_build import attach_served_model, bento_model_path, bento_model_tag
from bento_services.bentos import bento_dir, bentoml_home, build_bento, delete_bentos, prune_bentos
from bento_services.model_lock import model_lock
from bento_services.parity import (
    ParityCase, answer_example, compare, load_locally, reference_case, save_case, save_runtime, saved_case,
    saved_runtime,
)
from bento_services.records import retire
from bento_services.routes import Route
from bento_services.servers import serve, stop_server, version_dir, wait_ready
from bento_services.snapshot import write_snapshot
from bento_services.spares import start_spares, stop_spares
from infra.processes import children, log_tail
from registry.deployments import (
    DeploymentInfo, Replica, is_healthy, record_failed, record_running, replica_urls, rollback_choices, running,
)
from registry.errors import ConflictError, ModelNotFoundError, ModelyardError
from registry.metadata.db import session_scope
from registry.metadata.tables import Deployment
from registry.refs import ModelRef, parse_ref
from registry.runtimes import RuntimeChoice, RuntimeRequest
from registry.settings import Settings

logger = logging.getLogger(__name__)
PRODUCTION_ALIAS = "production"


class DeploymentError(ModelyardError):
    """A deploy that failed at ``step``; nothing it started is left running."""

    def __init__(self, step: str, ref: str, reason: str):
        self.step, self.ref, self.reason = step, ref, reason
        super().__init__(f"deploying {ref} failed at step '{step}': {reason}")


class NoDeploymentError(ConflictError):
    """There is no running deployment of that model (or none to roll back to)."""


class DeployContext(BaseModel):
    """What every step of one deploy shares."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: Settings
    actor: str
    request_id: str | None = None  # the Airflow run that asked for it, if one did
    port: int | None = None  # the model's stable endpoint port, honoured on its first deploy
    action: str = "deployed"  # the event ``promote`` writes: deployed, rolled_back
    record_failures: bool = True  # reconcile keeps its row and only stops what it started
    replicas: int | None = None  # servers to launch; None: the setting ``serve_replicas``
    slots: list[int] | None = None  # or which replicas to launch again (a repair), by slot
    runtime: RuntimeRequest = "auto"  # auto: a compiled runtime where it passes parity and is faster
    timings: dict[str, float] = {}  # seconds per step (and ``bentoml build`` within build)
    move_alias: Callable[[str, str, str], None] | None = None  # (ref, alias, actor); default registry.catalog's


class Build(BaseModel):
    """What ``build`` made: a bento of one exact version, and where its model directory is."""

    model_name: str
    model_version: int
    bento_tag: str
    model_dir: str
    parity: ParityCase | None = None  # made by build, where the model is loaded anyway
    runtime: RuntimeChoice | None = None  # what serves it, and the measurements that chose it

    @property
    def ref(self) -> str:
        return str(ModelRef(self.model_name, self.model_version))


class Launch(BaseModel):
    """The replicas of a build: ``bentoml serve`` processes on their own ports."""

    build: Build
    replicas: list[Replica]

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]

    @property
    def processes(self) -> list[dict[str, Any]]:
        return [record for replica in self.replicas for record in replica.processes]


# --- the steps ------------------------------------------------------------------------------

def build(ref: str, ctx: DeployContext) -> Build:
    """Resolve ``ref`` to one version, download it, check it loads (answering its input example
    for the parity step) while ``bentoml build`` runs beside it in its own process."""
    model_ref = parse_ref(ref)
    version = resolve(model_ref, ctx)
    part, tag = "download", None
    try:
        model_dir = _download(str(ModelRef(model_ref.name, version)), version_dir(ctx.settings, model_ref.name, version),
                              ctx.settings)
        with ThreadPoolExecutor(max_workers=1) as pool:
            building = pool.submit(_timed, build_bento, model_dir, model_ref.name, version, ctx.settings)
            try:
                part = "load"
                parity, runtime, _ = _load_and_snapshot(model_dir, model_ref.name, version, ctx)
            except Exception:
                if building.exception() is None:  # a model that does not load leaves no bento behind
                    delete_bentos([building.result()[0]], ctx.settings)
                raise
            part = "bentoml build"
            tag, ctx.timings["bentoml build"] = building.result()
        attach_served_model(bento_model_path(bento_model_tag(model_ref.name, version), bentoml_home(ctx.settings)),
                            version_dir(ctx.settings, model_ref.name, version))
    except Exception as error:
        failed = Build(model_name=model_ref.name, model_version=version, bento_tag=tag or "", model_dir="")
        raise abandon("build", RuntimeError(f"{part}: {type(error).__name__}: {error}"), failed, ctx) from error
    return Build(model_name=model_ref.name, model_version=version, bento_tag=tag, model_dir=str(model_dir),
                 parity=parity, runtime=runtime)


def prepare(ref: str, ctx: DeployContext):
    """``build`` without the bento, for a spare that loads the version itself
    (``bento_services.warm_load``): the ``Build`` (no bento tag yet) and the loaded ``ServedModel``.
    Errors are raised as they are: the deploy that asked records them."""
    model_ref = parse_ref(ref)
    version = resolve(model_ref, ctx)
    try:
        model_dir = _download(str(ModelRef(model_ref.name, version)), version_dir(ctx.settings, model_ref.name, version),
                              ctx.settings)
    except Exception as error:
        raise RuntimeError(f"download: {type(error).__name__}: {error}") from error
    try:
        parity, runtime, served = _load_and_snapshot(model_dir, model_ref.name, version, ctx)
    except Exception as error:
        raise RuntimeError(f"load: {type(error).__name__}: {error}") from error
    built = Build(model_name=model_ref.name, model_version=version, bento_tag="", model_dir=str(model_dir),
                  parity=parity, runtime=runtime)
    return built, served


def resolve(model_ref: ModelRef, ctx: DeployContext) -> int:
    from registry.store import mlflow_client, resolve_version

    return int(resolve_version(model_ref, mlflow_client(ctx.settings)).version)


def _load_and_snapshot(model_dir: Path, name: str, version: int, ctx: DeployContext):
    """Load the version as its servers will, choose its runtime (``registry.compiling``), answer
    its input example with the native model for the parity step (within the tolerance the runtime
    was chosen at), and leave the served model for the servers to start from
    (``bento_services.snapshot``): the parity case, the runtime choice and the ``ServedModel``."""
    from bento_services.model import ServedModel
    from registry.compiling import choose_for_version

    folder = version_dir(ctx.settings, name, version)
    native, model, example = load_locally(model_dir)
    predictor, runtime = choose_for_version(native, model_dir, requested=ctx.runtime)
    logger.info("%s/%s serves with %s", name, version, runtime.summary)
    served = ServedModel.from_model_dir(model_dir, name, version, predictor, model, runtime=runtime.runtime)
    write_snapshot(served, model_dir, folder)
    case = answer_example(native, example, tolerance=runtime.chosen.parity.tolerance if runtime.chosen else None)
    save_case(case, folder)
    save_runtime(runtime, folder)
    return case, runtime, served


def previous_build(name: str, ctx: DeployContext) -> Build:
    """The bento of the version deployed before the current one (built again if it was pruned)."""
    return build_of(rollback_target(name, ctx.settings), ctx)


def build_of(row: Deployment, ctx: DeployContext) -> Build:
    """An earlier deployment's bento, or a fresh build of its version if the bento is gone."""
    folder = version_dir(ctx.settings, row.model_name, row.model_version)
    if row.bento_tag and bento_dir(row.bento_tag, ctx.settings).exists() and (folder / "model").exists():
        return Build(model_name=row.model_name, model_version=row.model_version, bento_tag=row.bento_tag,
                     model_dir=str(folder / "model"), parity=saved_case(folder), runtime=saved_runtime(folder))
    return build(str(ModelRef(row.model_name, row.model_version)), ctx)


def launch(built: Build, ctx: DeployContext) -> Launch:
    """``bentoml serve`` the bento, once per replica, each in its own session on a spare
    loopback port; they start side by side."""
    replicas = []
    for slot in ctx.slots or range(ctx.replicas or ctx.settings.serve_replicas):
        port = endpoints.spare_port()
        leader = serve(built.bento_tag, built.model_name, built.model_version, port, ctx.settings, slot=slot)
        replicas.append(Replica(port=port, processes=[asdict(leader)]))
    return Launch(build=built, replicas=replicas)


def check_health(launched: Launch, ctx: DeployContext) -> Launch:
    """Wait until every replica answers ``/readyz``; then record their worker PIDs too."""
    replicas = []
    try:
        for replica in launched.replicas:
            leader = replica.process_list()[0]
            try:
                wait_ready(leader, replica.url)
            finally:
                known = {process.pid for process in replica.process_list()}
                workers = [asdict(child) for child in children(leader) if child.pid not in known]
                replicas.append(replica.model_copy(update={"processes": replica.processes + workers}))
    finally:  # a failure still hands every PID it knows to the stop
        launched = launched.model_copy(update={"replicas": replicas + launched.replicas[len(replicas):]})
    return launched


def check_parity(launched: Launch, ctx: DeployContext) -> Launch:
    """``/predict`` on the input example, at every replica, must give the in-process predictor's
    answer (the one the build made, or, for an earlier build, made now)."""
    built = launched.build
    case = built.parity if built.parity else reference_case(Path(built.model_dir))
    for url in launched.urls:
        compare(url, case)
    return launched


def promote(launched: Launch, ctx: DeployContext) -> DeploymentInfo:
    """Route the model's endpoint to this server, make it ``production``, record it, then
    retire the deployment it replaces once nothing is in flight to that one. Then the model's
    spares are started (``bento_services.spares``): its next deploy loads into them."""
    with model_lock(launched.build.model_name, ctx.settings):
        info = switch_to(launched, ctx)
    start_spares(launched.build.model_name, len(launched.replicas), ctx.settings)
    return info


def switch_to(launched: Launch, ctx: DeployContext) -> DeploymentInfo:
    """``promote``'s work, for a caller that holds the model's lock (promoting a challenger)."""
    settings, built = ctx.settings, launched.build
    previous = running(built.model_name, settings=settings)
    stable_port = endpoints.endpoint_port(built.model_name, ctx.port, settings)
    challenger = endpoints.current_challenger(endpoints.route_file(built.model_name, settings))
    try:
        endpoint = endpoints.route_to(built.model_name, stable_port,
                                      Route(built.model_name, built.model_version, launched.urls), settings)
        _move_alias(built.ref, ctx)
    except Exception:
        if previous and is_healthy(previous[0]):  # traffic may have moved already: give it back
            endpoints.route_to(built.model_name, stable_port, Route(built.model_name, previous[0].model_version,
                                                                    replica_urls(previous[0]), challenger), settings)
        raise
    info = record_running(model_name=built.model_name, model_version=built.model_version, bento_tag=built.bento_tag or None,
                          replicas=launched.replicas, url=endpoint.url, runtime=built.runtime,
                          action=ctx.action, actor=ctx.actor, request_id=ctx.request_id, settings=settings)
    endpoints.set_deployment(built.model_name, info.id, settings)
    close_challenge_for(info, ctx)
    for old in previous:
        for url in replica_urls(old):
            endpoints.wait_drained(endpoint.local_url, url)
        retire(old, status="replaced", reason=f"replaced by deployment {info.id}", action="deployment_replaced",
               actor=ctx.actor, settings=settings)
    if built.bento_tag:  # a swap's bento is built after it, and prunes then
        prune_bentos(built.model_name, settings)
    return info


def _move_alias(ref: str, ctx: DeployContext) -> None:
    """``production`` to ``ref``: through ``ctx.move_alias`` when the deploy has one (a swap asks a
    server that has MLflow imported), else in this process."""
    if ctx.move_alias is not None:
        ctx.move_alias(ref, PRODUCTION_ALIAS, ctx.actor)
        return
    from registry.catalog import move_alias

    move_alias(ref, PRODUCTION_ALIAS, ctx.settings, actor=ctx.actor)


class Undeployed(BaseModel):
    """What an undeploy did: the deployment it stopped, the port it freed for any later deploy,
    and the version ``production`` pointed at before it removed that alias (nothing serves now)."""

    deployment: DeploymentInfo
    freed_port: int | None
    production_removed_from: int | None

    @computed_field
    @property
    def message(self) -> str:
        said = [f"stopped {self.deployment.model_name}/{self.deployment.model_version}"]
        if self.freed_port is not None:
            said.append(f"port {self.freed_port} is free for any later deploy")
        if self.production_removed_from is not None:
            said.append(f"alias {PRODUCTION_ALIAS} removed from version {self.production_removed_from}")
        return "; ".join(said)


def undeploy(name: str, ctx: DeployContext) -> Undeployed:
    """Stop the model's gateway and running deployment by their PIDs, free its port and remove
    ``production`` (it names what serves now; the next deploy sets it again). Files and bentos stay."""
    from registry.catalog import remove_alias

    with model_lock(name, ctx.settings):
        found = running(name, settings=ctx.settings)
        if not found:
            raise NoDeploymentError(f"model {name!r} has no running deployment")
        from bento_services.challenges import stop_challenge_of

        stop_challenge_of(name, reason="undeployed", actor=ctx.actor, settings=ctx.settings)
        freed = endpoints.release_endpoint(name, ctx.settings)
        stop_spares(name, ctx.settings)
        try:
            removed = remove_alias(name, PRODUCTION_ALIAS, ctx.settings, actor=ctx.actor, reason="undeployed").version
        except ModelNotFoundError:
            removed = None  # moved away or removed by hand already
        details = {"freed_port": freed, "production_removed_from": removed, "request_id": ctx.request_id}
        retired = [retire(row, status="stopped", reason="undeployed", action="undeployed", actor=ctx.actor,
                          settings=ctx.settings, details=details) for row in reversed(found)]
        return Undeployed(deployment=retired[-1], freed_port=freed, production_removed_from=removed)


@dataclass(frozen=True)
class Step:
    """A step as the fronts run it: its function and the type of what it takes."""

    run: Callable[[Any, DeployContext], Any]
    takes: type = field(default=str)


STEPS: dict[str, Step] = {
    "build": Step(build), "previous_build": Step(previous_build), "launch": Step(launch, Build),
    "check_health": Step(check_health, Launch), "check_parity": Step(check_parity, Launch),
    "promote": Step(promote, Launch), "undeploy": Step(undeploy),
}


def run_step(name: str, value: Any, ctx: DeployContext) -> Any:
    """Run one step on ``value`` (a model, or its JSON form from a DAG task before this one)."""
    step = STEPS[name]
    if step.takes is not str and not isinstance(value, step.takes):
        value = step.takes.model_validate(value)
    started = time.perf_counter()
    try:
        return step.run(value, ctx)
    except Exception as error:
        if isinstance(value, str) or isinstance(error, DeploymentError):
            raise  # a first step records its own failure once it knows the version; before, there is nothing
        raise abandon(name, error, value, ctx) from error
    finally:
        ctx.timings[name] = ctx.timings.get(name, 0.0) + time.perf_counter() - started


def run_chain(names: Sequence[str], value: Any, ctx: DeployContext) -> Any:
    """The named steps in order, each on what the one before returned."""
    for name in names:
        value = run_step(name, value, ctx)
    return value


def abandon(step: str, error: BaseException, value: Build | Launch, ctx: DeployContext) -> BaseException:
    """Stop what a failed step started, record why (unless reconciling), return the error to raise."""
    launched = value if isinstance(value, Launch) else None
    built = launched.build if launched else value
    processes = [stopped for replica in launched.replicas for stopped in stop_server(replica.process_list())] \
        if launched else []
    if not ctx.record_failures:
        return error
    reason = f"{type(error).__name__}: {error}"
    if processes:
        reason += f"\n--- end of {processes[0].log} ---\n{log_tail(processes[0], 1500)}"
    record_failed(model_name=built.model_name, model_version=built.model_version, bento_tag=built.bento_tag,
                  port=launched.replicas[0].port if launched else None, processes=processes, step=step, reason=reason,
                  actor=ctx.actor, request_id=ctx.request_id, settings=ctx.settings)
    return DeploymentError(step, built.ref, reason)


def rollback_target(name: str, settings: Settings) -> Deployment:
    """The deployment before the running one, of another version, whose bento is known
    (``registry.deployments.rollback_choices``, which the Models page shows too)."""
    choice = rollback_choices(settings=settings, model_name=name).get(name)
    if choice is None:
        raise NoDeploymentError(f"model {name!r} has no running deployment to roll back from")
    if not choice.possible:
        raise NoDeploymentError(f"model {name!r} has {choice.reason}")
    with session_scope(settings) as session:
        return session.get(Deployment, choice.deployment_id)


def close_challenge_for(info: DeploymentInfo, ctx: DeployContext) -> None:
    """A deploy or rollback replaces the champion a challenge was measured against: the challenge
    ends (its replicas stopped once drained), unless its challenger is what was promoted."""
    from bento_services.challenges import end_replaced_challenge

    end_replaced_challenge(info, actor=ctx.actor, settings=ctx.settings)


def _timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    return function(*args), time.perf_counter() - started


def _download(ref: str, folder: Path, settings: Settings) -> Path:
    """The version's model directory at ``folder/model``, fetched afresh each deploy."""
    import shutil
    import tempfile

    from registry.catalog import download_model_dir

    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="model.", dir=folder))
    target = folder / "model"
    try:
        downloaded = download_model_dir(ref, staging, settings)
        shutil.rmtree(target, ignore_errors=True)  # a service of this version has its own copy in its bento
        downloaded.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
