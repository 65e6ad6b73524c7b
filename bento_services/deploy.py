"""Deploy a registered model version as an online service, list deployments, undeploy.

``deploy_model`` resolves a reference to one version, downloads its model directory under
``<home>/deployments/<name>/v<version>/model``, builds a bento of ``ModelService`` with that
model (``bentoml build``, no Docker; bentos live under ``<home>/bentoml``), launches
``python -m bentoml serve <bento tag>`` in its own session, waits for ``/readyz``, checks that
``/predict`` answers the model's input example exactly as the in-process predictor does, and
only then records the deployment as running, moves the ``production`` alias and stops the
deployment it replaces. A failure at any step stops what was started (by PID), records the
deployment as failed with the reason, and raises ``DeploymentError`` naming the step.

Processes are recorded with PID and kernel start time (``registry.processes``), so a stop
never signals a PID the system has reused, and never looks at a process name.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import select

from registry.processes import Process, children, is_running, launch, log_tail, stop
from registry.errors import ModelyardError
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import Deployment
from registry.refs import ModelRef, parse_ref
from registry.settings import Settings, get_settings

REPO = Path(__file__).resolve().parents[1]
PRODUCTION_ALIAS = "production"
SERVICE = "bento_services.service:ModelService"
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


class DeploymentError(ModelyardError):
    """A deploy that failed at ``step``; nothing it started is left running."""

    def __init__(self, step: str, ref: str, reason: str):
        self.step, self.ref, self.reason = step, ref, reason
        super().__init__(f"deploying {ref} failed at step '{step}': {reason}")


class NoDeploymentError(ModelyardError):
    """There is no running deployment of that model."""


class DeploymentInfo(BaseModel):
    """One launch of a model version, with a live health check when one was asked for."""

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


def deploy_model(ref: str, *, port: int, settings: Settings | None = None) -> DeploymentInfo:
    """Serve the version ``ref`` means now on ``port``; it becomes ``production`` once checked."""
    from registry.catalog import set_alias
    from registry.store import mlflow_client, resolve_version

    settings = settings or get_settings()
    model_ref = parse_ref(ref)
    version = int(resolve_version(model_ref, mlflow_client(settings)).version)
    exact = str(ModelRef(model_ref.name, version))
    previous = _running(model_ref.name, settings)
    launched: list[Process] = []
    bento_tag: str | None = None
    info: DeploymentInfo | None = None
    step = "port"
    try:
        _check_port_free(port)
        step = "download"
        model_dir = _download(exact, _version_dir(settings, model_ref.name, version), settings)
        step = "load"
        predictor, example = _load_locally(model_dir)
        step = "build"
        bento_tag = _build_bento(model_dir, model_ref.name, version, settings)
        step = "launch"
        leader = _launch(bento_tag, model_ref.name, version, port, settings)
        launched.append(leader)
        step = "ready"
        url = f"http://127.0.0.1:{port}"
        wait_ready(leader, url)
        launched += children(leader)
        step = "smoke test"
        _check_parity(url, predictor, example)
        step = "record"
        info = _record_running(model_ref.name, version, bento_tag, url, port, launched, settings)
        step = "alias"
        set_alias(exact, PRODUCTION_ALIAS, settings)
    except Exception as error:
        reason = _reason(error, launched)
        launched = _stop_server(launched)
        _record_failed(model_ref.name, version, bento_tag, port, launched, step, reason, settings,
                       replaces=info)
        raise DeploymentError(step, exact, reason) from error
    for old in previous:
        _retire(old, status="replaced", reason=f"replaced by deployment {info.id}",
                action="deployment_replaced", settings=settings)
    return info


def list_deployments(settings: Settings | None = None, *, live: bool = True) -> list[DeploymentInfo]:
    """Every deployment, newest first; running ones get a ``/readyz`` check when ``live``."""
    settings = settings or get_settings()
    with session_scope(settings) as session:
        rows = list(session.scalars(select(Deployment).order_by(Deployment.id.desc())))
    return [_info(row, healthy=_healthy(row) if live and row.status == "running" else None) for row in rows]


def undeploy(name: str, settings: Settings | None = None) -> DeploymentInfo:
    """Stop the running deployment of ``name`` by its recorded PIDs; its files stay."""
    settings = settings or get_settings()
    running = _running(name, settings)
    if not running:
        raise NoDeploymentError(f"model {name!r} has no running deployment")
    for row in running[1:]:
        _retire(row, status="stopped", reason="undeployed", action="undeployed", settings=settings)
    return _retire(running[0], status="stopped", reason="undeployed", action="undeployed", settings=settings)


def _version_dir(settings: Settings, name: str, version: int) -> Path:
    return settings.home / "deployments" / name / f"v{version}"


def _check_port_free(port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            raise OSError(f"port {port} is in use on 127.0.0.1 ({error.strerror})") from None


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


def _bentoml_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "BENTOML_HOME": str(settings.home / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}


def _build_bento(model_dir: Path, name: str, version: int, settings: Settings) -> str:
    """A bento of the service code and this model, tagged ``<name>:v<version>-<millis>``."""
    import shutil
    import subprocess

    context = _version_dir(settings, name, version) / "bento_context"
    shutil.rmtree(context, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("bento_services", "registry"):
        shutil.copytree(REPO / package, context / package, ignore=ignore)
    shutil.copytree(model_dir, context / "model")
    (context / "bentofile.yaml").write_text(f'service: "{SERVICE}"\ninclude: ["**"]\n')
    command = [sys.executable, "-m", "bentoml", "build", "--name", name.lower(),
               "--version", f"v{version}-{time.time_ns() // 1_000_000}", "-o", "tag", "."]
    done = subprocess.run(command, cwd=context, env=_bentoml_env(settings), capture_output=True, text=True,
                          timeout=300)  # bentoml reads the bentofile only from inside the working directory
    shutil.rmtree(context, ignore_errors=True)
    tags = [line.removeprefix("__tag__:") for line in done.stdout.splitlines() if line.startswith("__tag__:")]
    if done.returncode != 0 or not tags:
        raise RuntimeError(f"bentoml build exited {done.returncode}:\n{(done.stdout + done.stderr)[-1500:]}")
    return tags[-1]


def _bento_model_dir(tag: str, settings: Settings) -> Path:
    name, version = tag.split(":")
    return settings.home / "bentoml" / "bentos" / name / version / "src" / "model"


def _launch(bento_tag: str, name: str, version: int, port: int, settings: Settings) -> Process:
    env = {
        **_bentoml_env(settings), "MODELYARD_SERVE_MODEL_DIR": str(_bento_model_dir(bento_tag, settings)),
        "MODELYARD_SERVE_MODEL_NAME": name, "MODELYARD_SERVE_MODEL_VERSION": str(version),
    }
    command = [sys.executable, "-m", "bentoml", "serve", bento_tag, "--host", "127.0.0.1", "--port", str(port)]
    log = _version_dir(settings, name, version) / "serve.log"
    return launch(f"bentoml-{name}-v{version}", command, env=env, log=log)


def wait_ready(leader: Process, url: str, timeout: float | None = None) -> None:
    """Until ``/readyz`` answers 200; an exit or a timeout is an error with the log's end."""
    timeout = timeout or READY_TIMEOUT
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(leader):
            raise RuntimeError(f"bentoml serve exited before it was ready:\n{log_tail(leader)}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url}/readyz did not answer 200 within {timeout:.0f} s")


def _stop_server(processes: list[Process]) -> list[Process]:
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
        same = np.allclose(got.astype(float), want.astype(float), rtol=1e-9, atol=1e-12) if numeric \
            else got.tolist() == want.tolist()
        if not same:
            raise RuntimeError(f"POST /predict differs from the in-process predictor in {column!r}: "
                               f"{got.tolist()[:5]} != {want.tolist()[:5]}")


def _reason(error: Exception, launched: list[Process]) -> str:
    reason = f"{type(error).__name__}: {error}"
    if launched:
        reason += f"\n--- end of {launched[0].log} ---\n{log_tail(launched[0], 1500)}"
    return reason


def _record_running(name: str, version: int, bento_tag: str, url: str, port: int, processes: list[Process],
                    settings: Settings) -> DeploymentInfo:
    with session_scope(settings) as session:
        row = Deployment(model_name=name, model_version=version, bento_tag=bento_tag, url=url, port=port,
                         pids=[asdict(process) for process in processes], status="running",
                         created_by=settings.user)
        session.add(row)
        session.flush()
        record_event(session, actor=settings.user, action="deployed", model_name=name, model_version=version,
                     details={"deployment_id": row.id, "url": url, "pids": [p.pid for p in processes]})
        return _info(row, healthy=True)


def _record_failed(name: str, version: int, bento_tag: str | None, port: int, processes: list[Process],
                   step: str, reason: str, settings: Settings, replaces: DeploymentInfo | None) -> None:
    """One failed row; a row already written as running (the alias step failed) becomes it."""
    with session_scope(settings) as session:
        row = session.get(Deployment, replaces.id) if replaces else None
        if row is None:
            row = Deployment(model_name=name, model_version=version, bento_tag=bento_tag, port=port,
                             created_by=settings.user, pids=[asdict(process) for process in processes])
            session.add(row)
        row.status, row.status_reason, row.url = "failed", f"step '{step}': {reason}", None
        session.flush()
        record_event(session, actor=settings.user, action="deploy_failed", model_name=name,
                     model_version=version, details={"deployment_id": row.id, "step": step, "reason": reason[:2000]})


def _running(name: str, settings: Settings) -> list[Deployment]:
    with session_scope(settings) as session:
        query = select(Deployment).where(Deployment.model_name == name, Deployment.status == "running")
        return list(session.scalars(query.order_by(Deployment.id.desc())))


def _processes(row: Deployment) -> list[Process]:
    return [Process(**record) for record in row.pids]


def _retire(row: Deployment, *, status: str, reason: str, action: str, settings: Settings) -> DeploymentInfo:
    """Stop a deployment's recorded processes and write its new status with an event."""
    _stop_server(_processes(row))
    with session_scope(settings) as session:
        current = session.get(Deployment, row.id)
        current.status, current.status_reason = status, reason
        session.flush()
        record_event(session, actor=settings.user, action=action, model_name=current.model_name,
                     model_version=current.model_version, details={"deployment_id": current.id})
        return _info(current, healthy=None)


def _healthy(row: Deployment) -> bool:
    if not all(is_running(process) for process in _processes(row)):
        return False
    try:
        return httpx.get(f"{row.url}/readyz", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


def _info(row: Deployment, *, healthy: bool | None) -> DeploymentInfo:
    fields: dict[str, Any] = {column: getattr(row, column) for column in DeploymentInfo.model_fields
                              if column not in ("pids", "healthy")}
    return DeploymentInfo(**fields, pids=[record["pid"] for record in row.pids], healthy=healthy)
