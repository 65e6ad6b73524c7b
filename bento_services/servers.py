"""Backend servers: ``bentoml serve`` of a bento in its own session, waited for, stopped by PID.

Processes are recorded with PID and kernel start time (``infra.processes``), so a stop never
signals a PID the system has reused, and never looks at a process name.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx

from bento_services.bento_build import REPO, SERVICE, bento_model_tag
from bento_services.bentoml_serve import METRICS_DIR_VARIABLE
from bento_services.bentos import bentoml_env
from bento_services.snapshot import SNAPSHOT_FILE
from infra.processes import Process, children, is_running, launch, log_tail, stop
from registry.settings import Settings

READY_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


def version_dir(settings: Settings, name: str, version: int) -> Path:
    """Where a deployed version keeps its model directory and logs."""
    return settings.home / "deployments" / name / f"v{version}"


def metrics_dir(settings: Settings, name: str, port: int) -> Path:
    """A server's own Prometheus folder (``bento_services.bentoml_serve``), emptied when it starts."""
    return settings.home / "deployments" / name / "metrics" / str(port)


def serve(bento_tag: str, name: str, version: int, port: int, settings: Settings, *, slot: int = 0) -> Process:
    """``bentoml serve`` the bento on ``127.0.0.1:port`` in its own session, logging to its version
    folder (``serve.log``, ``serve-<slot>.log`` for the other replicas). The replica logs its
    requests (named by its port) where ``registry.request_logs.log_root`` says, with these settings
    passed on whole, not left to the environment the caller happened to have."""
    folder = version_dir(settings, name, version)
    env = server_env(settings, name, port)
    env.update({"MODELYARD_SERVE_MODEL_TAG": bento_model_tag(name, version), "MODELYARD_SERVE_MODEL_NAME": name,
                "MODELYARD_SERVE_MODEL_VERSION": str(version)})
    if (folder / SNAPSHOT_FILE).exists():  # the build's loaded model: a start in seconds
        env["MODELYARD_SERVE_SNAPSHOT"] = str(folder / SNAPSHOT_FILE)
    command = [sys.executable, "-m", "bento_services.bentoml_serve", bento_tag, "--host", "127.0.0.1", "--port", str(port)]
    log = folder / ("serve.log" if slot == 0 else f"serve-{slot}.log")
    return launch(f"bentoml-{name}-v{version}-r{slot}", command, env=env, log=log)


def serve_spare(name: str, port: int, token: str, settings: Settings) -> Process:
    """``bentoml serve`` of the project's own service code (no bento: a spare has no model yet) in
    spare mode (``bento_services.spares``), logging to the model's ``spare-<port>.log``."""
    env = server_env(settings, name, port)
    env.update({"MODELYARD_SERVE_SPARE": "true", "MODELYARD_SERVE_ADMIN_TOKEN": token})
    command = [sys.executable, "-m", "bento_services.bentoml_serve", SERVICE, "--working-dir", str(REPO),
               "--host", "127.0.0.1", "--port", str(port)]
    log = settings.home / "deployments" / name / f"spare-{port}.log"
    return launch(f"bentoml-{name}-spare", command, env=env, log=log)


def server_env(settings: Settings, name: str, port: int) -> dict[str, str]:
    """What every server of model ``name`` reads: the platform's settings whole, its request log's
    place, its replica name (the port) and its own Prometheus folder, and nothing of a model the
    caller's environment may name."""
    from registry.request_logs import log_root

    env = {**bentoml_env(settings), **settings.as_environment(),
           "MODELYARD_SERVE_MAX_BODY_BYTES": str(settings.serve_max_body_bytes),
           "MODELYARD_SERVE_REPLICA": str(port), "MODELYARD_SERVE_REQUEST_LOG": str(settings.serve_request_log).lower(),
           "MODELYARD_SERVE_TRACING": str(settings.serve_tracing).lower(),
           "MODELYARD_REQUEST_LOG_ROOT": log_root(settings), METRICS_DIR_VARIABLE: str(metrics_dir(settings, name, port))}
    for inherited in ("MODELYARD_SERVE_MODEL_DIR", "MODELYARD_SERVE_SNAPSHOT", "MODELYARD_SERVE_MODEL_TAG",
                      "MODELYARD_SERVE_SPARE", "MODELYARD_SERVE_ADMIN_TOKEN", "MODELYARD_S3_ENDPOINT_URL"):
        env.pop(inherited, None)
    if settings.s3_endpoint_url:
        env["MODELYARD_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    return env


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


def stop_server(processes: list[Process], timeout: float = STOP_TIMEOUT) -> list[Process]:
    """SIGTERM the leader and its workers by PID, including workers it forks meanwhile (a
    server stopped while starting spawns them late, in their own sessions); SIGKILL what
    is left after ``timeout``. Returns every process it signalled."""
    known, signalled = list(processes), set()
    deadline = time.monotonic() + timeout
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


def stop_servers(servers: list[list[Process]], timeout: float = STOP_TIMEOUT) -> list[Process]:
    """``stop_server`` each server (its processes, leader first) at the same time: a deployment's
    replicas or a model's spares shut down together, in the time of the slowest."""
    from concurrent.futures import ThreadPoolExecutor

    if len(servers) < 2:
        return [process for server in servers for process in stop_server(server, timeout)]
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        return [process for stopped in pool.map(lambda server: stop_server(server, timeout), servers)
                for process in stopped]
