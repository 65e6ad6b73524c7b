"""Deploy a registered model version as an online service, roll back, undeploy, list.

A deploy runs five steps, each a function an Airflow task can call on its own (the
``deploy_model`` DAG) and ``deploy_model`` calls in a row (the CLI):

1. ``build``: resolve the reference to one version, download it under
   ``<home>/deployments/<name>/v<version>/model``, load it in-process, ``bentoml build`` a bento
   of ``ModelService`` with it (no Docker; bentos live under ``<home>/bentoml``);
2. ``launch``: ``python -m bentoml serve <bento>`` in its own session on a spare loopback port;
3. ``check_health``: wait for ``/readyz``, record the server's worker PIDs;
4. ``check_parity``: ``/predict`` on the model's input example must equal the in-process answer;
5. ``promote``: record the deployment, point the model's stable endpoint (``endpoints``, a
   gateway on the model's own port) at it, move the ``production`` alias, and stop the
   deployment it replaces once the gateway has nothing in flight to it.

A failure at any step stops what was started (by PID), records the deployment as failed with
the step and the reason, and leaves the previous deployment serving (``abandon``). Processes
are recorded with PID and kernel start time (``registry.processes``), so a stop never signals
a PID the system has reused, and never looks at a process name.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import select

from bento_services import endpoints
from bento_services.bento_build import bento_model_tag
from registry.errors import ModelyardError
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import Deployment
from registry.processes import Process, children, is_running, launch as launch_process, log_tail, project_path, stop
from registry.refs import ModelRef, parse_ref
from registry.settings import Settings, get_settings

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger(__name__)
PRODUCTION_ALIAS = "production"
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


class DeploymentError(ModelyardError):
    """A deploy that failed at ``step``; nothing it started is left running."""

    def __init__(self, step: str, ref: str, reason: str):
        self.step, self.ref, self.reason = step, ref, reason
        super().__init__(f"deploying {ref} failed at step '{step}': {reason}")


class NoDeploymentError(ModelyardError):
    """There is no running deployment of that model (or none to roll back to)."""


class DeploymentInfo(BaseModel):
    """One launch of a model version, with a live health check when one was asked for.

    ``url`` is the model's stable endpoint; ``backend_url`` the server of this deployment."""

    id: int
    model_name: str
    model_version: int
    bento_tag: str | None
    url: str | None
    port: int | None
    pids: list[int]
    status: str
    status_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    healthy: bool | None = None

    @property
    def backend_url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None


class Build(BaseModel):
    """What ``build`` made: a bento of one exact version, and where its model directory is."""

    model_name: str
    model_version: int
    bento_tag: str
    model_dir: str

    @property
    def ref(self) -> str:
        return str(ModelRef(self.model_name, self.model_version))


class Launch(BaseModel):
    """A backend server of a build, by PID; ``processes`` grows with its workers once healthy."""

    build: Build
    port: int
    processes: list[dict[str, Any]]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def process_list(self) -> list[Process]:
        return [Process(**record) for record in self.processes]


# --- the steps ------------------------------------------------------------------------------

def build(ref: str, settings: Settings | None = None) -> Build:
    """Resolve ``ref`` to one version, download it, check it loads, build its bento."""
    from registry.store import mlflow_client, resolve_version

    settings = settings or get_settings()
    model_ref = parse_ref(ref)
    version = int(resolve_version(model_ref, mlflow_client(settings)).version)
    exact, step, tag = ModelRef(model_ref.name, version), "download", None
    try:
        model_dir = _download(str(exact), _version_dir(settings, model_ref.name, version), settings)
        step = "load"
        _load_locally(model_dir)
        step = "build"
        tag = _build_bento(model_dir, model_ref.name, version, settings)
    except Exception as error:
        failed = Build(model_name=model_ref.name, model_version=version, bento_tag=tag or "", model_dir="")
        raise abandon(step, error, failed, None, settings) from error
    return Build(model_name=model_ref.name, model_version=version, bento_tag=tag, model_dir=str(model_dir))


def launch(built: Build, settings: Settings | None = None) -> Launch:
    """``bentoml serve`` the bento in its own session on a spare loopback port."""
    settings = settings or get_settings()
    port = endpoints.spare_port()
    leader = _launch(built.bento_tag, built.model_name, built.model_version, port, settings)
    return Launch(build=built, port=port, processes=[asdict(leader)])


def check_health(launched: Launch, timeout: float | None = None) -> Launch:
    """Wait until the server answers ``/readyz``; the answer also names its worker PIDs."""
    leader = launched.process_list()[0]
    try:
        wait_ready(leader, launched.url, timeout)
    finally:
        known = {process.pid for process in launched.process_list()}
        workers = [asdict(child) for child in children(leader) if child.pid not in known]
        launched = launched.model_copy(update={"processes": launched.processes + workers})
    return launched


def check_parity(launched: Launch) -> None:
    """``/predict`` on the input example must give the in-process predictor's answer."""
    predictor, example = _load_locally(Path(launched.build.model_dir))
    _check_parity(launched.url, predictor, example)


def promote(launched: Launch, settings: Settings | None = None, *, port: int | None = None,
            action: str = "deployed") -> DeploymentInfo:
    """Route the model's endpoint to this server, make it ``production``, record it, then
    retire the deployment it replaces once nothing is in flight to that one."""
    from registry.catalog import set_alias

    settings = settings or get_settings()
    built = launched.build
    previous = _running(built.model_name, settings)
    stable_port = endpoints.endpoint_port(built.model_name, port, settings)
    route = {"model_name": built.model_name, "model_version": built.model_version}
    try:
        endpoint = endpoints.route_to(built.model_name, stable_port, launched.url, route, settings)
        set_alias(built.ref, PRODUCTION_ALIAS, settings)
    except Exception:
        if previous and is_healthy(previous[0]):  # traffic may have moved already: give it back
            endpoints.route_to(built.model_name, stable_port, backend_url(previous[0]),
                               {"model_name": built.model_name, "model_version": previous[0].model_version},
                               settings)
        raise
    info = _record_running(launched, endpoint.url, action, settings)
    endpoints.set_deployment(built.model_name, info.id, settings)
    for old in previous:
        endpoints.wait_drained(endpoint.local_url, backend_url(old))
        _retire(old, status="replaced", reason=f"replaced by deployment {info.id}",
                action="deployment_replaced", settings=settings)
    prune_bentos(built.model_name, settings)
    return info


def prune_bentos(name: str, settings: Settings) -> list[str]:
    """Delete the model's bentos beyond the newest ``serve_keep_bentos`` (never one a running
    deployment serves) with ``bentoml delete``; returns the deleted tags. A rollback to a
    version whose bento is gone builds it again."""
    import subprocess

    folder = _bentoml_home(settings) / "bentos" / name.lower()
    if not folder.is_dir():
        return []
    with session_scope(settings) as session:
        serving = set(session.scalars(select(Deployment.bento_tag).where(Deployment.status == "running")))
    versions = sorted((path for path in folder.iterdir() if path.is_dir() and not path.is_symlink()),
                      key=lambda path: path.stat().st_mtime,
                      reverse=True)
    doomed = [f"{name.lower()}:{path.name}" for path in versions[settings.serve_keep_bentos:]]
    doomed = [tag for tag in doomed if tag not in serving]
    if doomed:
        done = subprocess.run([sys.executable, "-m", "bentoml", "delete", *doomed, "--yes"], env=_bentoml_env(settings),
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            logger.warning("could not delete old bentos %s: %s", doomed, (done.stdout + done.stderr)[-500:])
            return []
    return doomed


def abandon(step: str, error: BaseException, built: Build, launched: Launch | None,
            settings: Settings | None = None) -> DeploymentError:
    """Stop what a failed deploy started, record why, and return the error to raise."""
    settings = settings or get_settings()
    processes = stop_server(launched.process_list()) if launched else []
    reason = _reason(error, processes)
    _record_failed(built, launched, processes, step, reason, settings)
    return DeploymentError(step, built.ref, reason)


# --- composed actions ----------------------------------------------------------------------

def deploy_model(ref: str, *, port: int | None = None, settings: Settings | None = None) -> DeploymentInfo:
    """Serve the version ``ref`` means now; it becomes ``production`` once checked.

    ``port`` is the model's stable endpoint port: the first deploy takes it (default: the first
    free port from 3000), later deploys and rollbacks keep it. It is checked before building."""
    settings = settings or get_settings()
    endpoints.endpoint_port(parse_ref(ref).name, port, settings)  # a port clash, before minutes of work
    return _serve(build(ref, settings), settings, port=port, action="deployed")


def rollback(name: str, settings: Settings | None = None) -> DeploymentInfo:
    """Serve again the version that was deployed before the current one, from its bento."""
    settings = settings or get_settings()
    running = _running(name, settings)
    if not running:
        raise NoDeploymentError(f"model {name!r} has no running deployment to roll back from")
    current = running[0]
    with session_scope(settings) as session:
        query = (select(Deployment).where(Deployment.model_name == name, Deployment.id < current.id,
                                          Deployment.status.in_(["replaced", "stopped"]),
                                          Deployment.model_version != current.model_version,
                                          Deployment.bento_tag.is_not(None))
                 .order_by(Deployment.id.desc()).limit(1))
        target = session.scalars(query).first()
    if target is None:
        raise NoDeploymentError(f"model {name!r} has no earlier deployed version to roll back to "
                                f"(version {current.model_version} is the only one)")
    return _serve(bento_of(target, settings), settings, port=None, action="rolled_back")


def undeploy(name: str, settings: Settings | None = None) -> DeploymentInfo:
    """Stop the model's gateway and running deployment by their PIDs; files and bentos stay."""
    settings = settings or get_settings()
    running = _running(name, settings)
    if not running:
        raise NoDeploymentError(f"model {name!r} has no running deployment")
    endpoints.stop_endpoint(name, settings)
    for row in running[1:]:
        _retire(row, status="stopped", reason="undeployed", action="undeployed", settings=settings)
    return _retire(running[0], status="stopped", reason="undeployed", action="undeployed", settings=settings)


def list_deployments(settings: Settings | None = None, *, live: bool = True) -> list[DeploymentInfo]:
    """Every deployment, newest first; running ones get a ``/readyz`` check when ``live``."""
    settings = settings or get_settings()
    with session_scope(settings) as session:
        rows = list(session.scalars(select(Deployment).order_by(Deployment.id.desc())))
    return [_info(row, healthy=is_healthy(row) if live and row.status == "running" else None) for row in rows]


def _serve(built: Build, settings: Settings, *, port: int | None, action: str) -> DeploymentInfo:
    """launch -> health -> parity -> promote; a failure is abandoned and raised."""
    launched, step = None, "launch"
    try:
        launched = launch(built, settings)
        step = "ready"
        launched = check_health(launched)
        step = "smoke test"
        check_parity(launched)
        step = "promote"
        return promote(launched, settings, port=port, action=action)
    except Exception as error:
        raise abandon(step, error, built, launched, settings) from error


def bento_of(row: Deployment, settings: Settings) -> Build:
    """The earlier deployment's bento, or a fresh build of its version if the bento is gone."""
    folder = _version_dir(settings, row.model_name, row.model_version) / "model"
    if _bento_dir(row.bento_tag, settings).exists() and folder.exists():
        return Build(model_name=row.model_name, model_version=row.model_version, bento_tag=row.bento_tag,
                     model_dir=str(folder))
    return build(str(ModelRef(row.model_name, row.model_version)), settings)


def _version_dir(settings: Settings, name: str, version: int) -> Path:
    return settings.home / "deployments" / name / f"v{version}"


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


def _load_locally(model_dir: Path):
    """The in-process predictor (the parity reference) and the model's input example."""
    from mlflow.models import Model

    from registry.predictors import load_predictor

    predictor = load_predictor(model_dir)
    example = Model.load(str(model_dir)).load_input_example(str(model_dir))
    return predictor, example


def _bentoml_home(settings: Settings) -> Path:
    return settings.home / "bentoml"


def _bentoml_env(settings: Settings) -> dict[str, str]:
    """For every bentoml subprocess: the deployment home's store, and the project's ``uv`` first
    on PATH (``bentoml build`` runs it; without one it tries to pip-install one into the venv)."""
    return {**os.environ, "BENTOML_HOME": str(_bentoml_home(settings)), "BENTOML_DO_NOT_TRACK": "true",
            "PATH": project_path()}


def _build_bento(model_dir: Path, name: str, version: int, settings: Settings) -> str:
    """Import the version into the Bento store and build a bento tagged ``<name>:v<version>-<millis>``
    (``bento_services.bento_build``, in its own process because BentoML fixes its home at import)."""
    import subprocess

    command = [sys.executable, "-m", "bento_services.bento_build", "--model-dir", str(model_dir),
               "--name", name, "--version", str(version)]
    done = subprocess.run(command, cwd=REPO, env=_bentoml_env(settings), capture_output=True, text=True, timeout=300)
    tags = [line.removeprefix("__tag__:") for line in done.stdout.splitlines() if line.startswith("__tag__:")]
    if done.returncode != 0 or not tags:
        raise RuntimeError(f"bentoml build exited {done.returncode}:\n{(done.stdout + done.stderr)[-1500:]}")
    return tags[-1]


def _bento_dir(tag: str, settings: Settings) -> Path:
    name, version = tag.split(":")
    return _bentoml_home(settings) / "bentos" / name / version


def _launch(bento_tag: str, name: str, version: int, port: int, settings: Settings) -> Process:
    folder = _version_dir(settings, name, version)
    env = {
        **_bentoml_env(settings), "MODELYARD_SERVE_MODEL_TAG": bento_model_tag(name, version),
        "MODELYARD_SERVE_MODEL_NAME": name, "MODELYARD_SERVE_MODEL_VERSION": str(version),
        "MODELYARD_SERVE_MAX_BODY_BYTES": str(settings.serve_max_body_bytes),
    }
    for inherited in ("MODELYARD_SERVE_REQUEST_LOG_DIR", "MODELYARD_SERVE_MODEL_DIR"):
        env.pop(inherited, None)
    if settings.serve_request_log:
        env["MODELYARD_SERVE_REQUEST_LOG_DIR"] = str(folder / "requests")
    command = [sys.executable, "-m", "bentoml", "serve", bento_tag, "--host", "127.0.0.1", "--port", str(port)]
    return launch_process(f"bentoml-{name}-v{version}", command, env=env, log=folder / "serve.log")


def wait_ready(leader: Process, url: str, timeout: float | None = None, path: str = "/readyz") -> None:
    """Until ``url + path`` answers 200; an exit or a timeout is an error with the log's end."""
    timeout = timeout or READY_TIMEOUT
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(leader):
            raise RuntimeError(f"{leader.name} exited before it was ready:\n{log_tail(leader)}")
        try:
            if httpx.get(f"{url}{path}", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url}{path} did not answer 200 within {timeout:.0f} s:\n{log_tail(leader)}")


def stop_server(processes: list[Process]) -> list[Process]:
    """SIGTERM the leader and its workers by PID, including workers it forks meanwhile (a
    server stopped while starting spawns them late, in their own sessions); SIGKILL what
    is left after ``STOP_TIMEOUT``. Returns every process it signalled."""
    known, signalled = list(processes), set()
    deadline = time.monotonic() + STOP_TIMEOUT
    while True:
        if known and is_running(known[0]):
            pids = {process.pid for process in known}
            known += [child for child in children(known[0]) if child.pid not in pids]
        alive = [process for process in known if is_running(process)]
        if not alive or time.monotonic() > deadline:
            break
        for process in alive:
            if process.pid not in signalled:
                signalled.add(process.pid)
                try:
                    os.kill(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass  # it exited since is_running looked
        time.sleep(0.2)
    if alive:
        stop(list(reversed(known)), sig=signal.SIGKILL, timeout=5.0)  # workers first, then the leader
    return known


def _check_parity(url: str, predictor, example) -> None:
    """``/predict`` on the input example must give the in-process predictor's answer."""
    import numpy as np
    import pandas as pd

    if example is None:
        return  # models imported without sample data have no example: readiness is the check
    response = httpx.post(f"{url}/predict", json=example.to_dict(orient="records"), timeout=30.0)
    if response.status_code != 200:
        raise RuntimeError(f"POST /predict answered {response.status_code}: {response.text[:500]}")
    served = pd.DataFrame(response.json()["predictions"])
    expected = predictor.predict(example).reset_index(drop=True)
    if list(served.columns) != list(expected.columns) or len(served) != len(expected):
        raise RuntimeError(f"POST /predict returned columns {list(served.columns)} x {len(served)} rows, "
                           f"expected {list(expected.columns)} x {len(expected)}")
    for column in expected.columns:
        want, got = expected[column].to_numpy(), served[column].to_numpy()
        numeric = column != "prediction" or predictor.card.task != "classification"
        # float32 models (ONNX, boosters) round differently with the batch size
        same = np.allclose(got.astype(float), want.astype(float), rtol=1e-5, atol=1e-7) if numeric \
            else got.tolist() == want.tolist()
        if not same:
            raise RuntimeError(f"POST /predict differs from the in-process predictor in {column!r}: "
                               f"{got.tolist()[:5]} != {want.tolist()[:5]}")


def _reason(error: Exception, launched: list[Process]) -> str:
    reason = f"{type(error).__name__}: {error}"
    if launched:
        reason += f"\n--- end of {launched[0].log} ---\n{log_tail(launched[0], 1500)}"
    return reason


def _record_running(launched: Launch, url: str, action: str, settings: Settings) -> DeploymentInfo:
    built = launched.build
    with session_scope(settings) as session:
        row = Deployment(model_name=built.model_name, model_version=built.model_version, bento_tag=built.bento_tag,
                         url=url, port=launched.port, pids=launched.processes, status="running",
                         created_by=settings.user)
        session.add(row)
        session.flush()
        record_event(session, actor=settings.user, action=action, model_name=built.model_name,
                     model_version=built.model_version,
                     details={"deployment_id": row.id, "url": url, "backend_url": launched.url,
                              "pids": [record["pid"] for record in launched.processes]})
        return _info(row, healthy=True)


def _record_failed(built: Build, launched: Launch | None, processes: list[Process], step: str, reason: str,
                   settings: Settings) -> None:
    with session_scope(settings) as session:
        row = Deployment(model_name=built.model_name, model_version=built.model_version,
                         bento_tag=built.bento_tag or None, port=launched.port if launched else None,
                         created_by=settings.user, pids=[asdict(process) for process in processes],
                         status="failed", status_reason=f"step '{step}': {reason}")
        session.add(row)
        session.flush()
        record_event(session, actor=settings.user, action="deploy_failed", model_name=built.model_name,
                     model_version=built.model_version,
                     details={"deployment_id": row.id, "step": step, "reason": reason[:2000]})


def _running(name: str, settings: Settings) -> list[Deployment]:
    with session_scope(settings) as session:
        query = select(Deployment).where(Deployment.model_name == name, Deployment.status == "running")
        return list(session.scalars(query.order_by(Deployment.id.desc())))


def recorded_processes(row: Deployment) -> list[Process]:
    return [Process(**record) for record in row.pids]


def _retire(row: Deployment, *, status: str, reason: str, action: str, settings: Settings) -> DeploymentInfo:
    """Stop a deployment's recorded processes and write its new status with an event."""
    stop_server(recorded_processes(row))
    with session_scope(settings) as session:
        current = session.get(Deployment, row.id)
        current.status, current.status_reason = status, reason
        session.flush()
        record_event(session, actor=settings.user, action=action, model_name=current.model_name,
                     model_version=current.model_version, details={"deployment_id": current.id})
        return _info(current, healthy=None)


def backend_url(row: Deployment) -> str:
    return f"http://127.0.0.1:{row.port}"


def is_healthy(row: Deployment) -> bool:
    """Every recorded process alive and the backend answering ``/readyz``."""
    if not row.pids or not all(is_running(process) for process in recorded_processes(row)):
        return False
    try:
        return httpx.get(f"{backend_url(row)}/readyz", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


def _info(row: Deployment, *, healthy: bool | None) -> DeploymentInfo:
    fields: dict[str, Any] = {column: getattr(row, column) for column in DeploymentInfo.model_fields
                              if column not in ("pids", "healthy")}
    return DeploymentInfo(**fields, pids=[record["pid"] for record in row.pids], healthy=healthy)
