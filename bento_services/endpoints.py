"""A model's stable URL: its gateway, its port, and switching it between backends.

The first deploy of a model starts ``bento_services.gateway`` on the model's port (a master and
``MODELYARD_GATEWAY_WORKERS`` workers) and records its processes in the ``endpoints`` table, the
master first; later deploys, rollbacks and restarts only rewrite the gateway's route file and
signal the master (SIGHUP), wait until every worker reports the new route, then until the former
backend has nothing in flight. The gateway is running while its master is: the master replaces a
dead worker itself. The port stays with the model until it is undeployed, which frees it for any
later deploy.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import httpx
from pydantic import BaseModel
from sqlalchemy import select

from bento_services.gateway import GRACEFUL_TIMEOUT, STATUS_PATH, state_folder, write_route
from bento_services.routes import ChallengerRoute, Route
from infra.probes import local_url
from infra.processes import Process, children, is_running, launch, log_tail, stop
from registry.errors import ConflictError, ModelyardError
from registry.metadata.db import session_scope
from registry.metadata.tables import Endpoint
from registry.settings import Settings

FIRST_PORT = 3000
GATEWAY_READY_TIMEOUT = 30.0
DRAIN_TIMEOUT = 120.0


class EndpointError(ModelyardError):
    """The model's endpoint cannot be started or switched."""


class PortTakenError(EndpointError, ConflictError):
    """The port asked for is another model's, another program's, or not the one the model holds."""


class EndpointInfo(BaseModel):
    model_name: str
    port: int
    url: str  # what clients use (``MODELYARD_SERVE_PUBLIC_HOST``)
    pids: list[int]
    deployment_id: int | None

    @property
    def local_url(self) -> str:
        """How this machine reaches the gateway, whatever address it listens on."""
        return local_url(self.port)


def public_url(port: int, settings: Settings) -> str:
    """The endpoint's URL for clients: the public host name, else the listen address, else for
    a gateway listening on every address (0.0.0.0) this machine's name."""
    host = settings.serve_public_host or (socket.gethostname() if settings.serve_host in ("0.0.0.0", "::")
                                          else settings.serve_host)
    return f"http://{host}:{port}"


def route_file(name: str, settings: Settings) -> Path:
    return settings.home / "deployments" / name / "route.json"


def endpoint_port(name: str, requested: int | None, settings: Settings) -> int:
    """The model's port: the one it already has, else ``requested`` (which must be free), else the
    first free one from ``FIRST_PORT`` that no other model holds."""
    with session_scope(settings) as session:
        current = session.get(Endpoint, name)
        if current is not None:
            if requested not in (None, current.port):
                raise PortTakenError(f"model {name!r} is served on port {current.port}; undeploy it before "
                                    f"moving its endpoint to port {requested}", field="port")
            return current.port
        taken = {row.port for row in session.scalars(select(Endpoint))}
    if requested is not None:
        if requested in taken:
            raise PortTakenError(f"port {requested} is the endpoint of another model", field="port")
        if not port_is_free(requested, settings.serve_host):
            raise PortTakenError(f"port {requested} on {settings.serve_host} is in use by another program", field="port")
        return requested
    port = FIRST_PORT
    while port in taken or not port_is_free(port, settings.serve_host):
        port += 1
    return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True unless a program listens on the port. Connections of a server that just stopped
    linger in TIME_WAIT; servers bind with SO_REUSEADDR over them, and so does this check."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def spare_port() -> int:
    """A port the kernel has just handed out for a backend server (not the stable one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def route_to(name: str, port: int, route: Route, settings: Settings, *, keep_challenger: bool = False) -> EndpointInfo:
    """Make the model's endpoint on ``port`` forward as ``route`` says, starting the gateway if
    needed. ``keep_challenger``: the route file's current challenger stays (a repair of the
    champion leaves a challenge running)."""
    path = route_file(name, settings)
    if keep_challenger:
        route = replace(route, challenger=current_challenger(path))
    write_route(path, route.as_file())
    local, url = local_url(port), public_url(port, settings)
    expected = (route.upstreams, route.challenger.upstreams if route.challenger else None)
    with session_scope(settings) as session:
        row = session.get(Endpoint, name)
        processes = [Process(**record) for record in row.pids] if row else []
    if _alive(processes):
        master = processes[0]
        os.kill(master.pid, signal.SIGHUP)  # the master passes it on to every worker
        _wait_for_route(local, expected, master)
    else:
        stop(processes, timeout=10.0)  # whatever is left of a dead gateway
        if not port_is_free(port, settings.serve_host):
            raise PortTakenError(f"port {port} on {settings.serve_host} is in use by another program")
        master = _launch_gateway(name, port, settings)
        _wait_for_route(local, expected, master)
    processes = [master, *children(master)]  # the workers as of now: the master replaces any that dies
    with session_scope(settings) as session:
        row = session.get(Endpoint, name) or Endpoint(model_name=name, port=port, url=url)
        row.port, row.url = port, url
        row.pids = [asdict(process) for process in processes]
        session.add(row)
        session.flush()
        return _info(row)


def wait_drained(url: str, upstream: str, timeout: float = DRAIN_TIMEOUT) -> bool:
    """Until the gateway at ``url`` has no request in flight to ``upstream`` in any of its workers
    (each one answered); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = httpx.get(f"{url}{STATUS_PATH}", timeout=5.0).json()
        except (httpx.HTTPError, ValueError):
            return True  # no gateway, nothing can be in flight through it
        if not status["in_flight"].get(upstream) and not status.get("unreachable_workers"):
            return True
        time.sleep(0.1)
    return False


def get_endpoint(name: str, settings: Settings) -> EndpointInfo | None:
    with session_scope(settings) as session:
        row = session.get(Endpoint, name)
        return _info(row) if row else None


def gateway_processes(name: str, settings: Settings) -> list[Process]:
    with session_scope(settings) as session:
        row = session.get(Endpoint, name)
        return [Process(**record) for record in row.pids] if row else []


def gateway_running(name: str, settings: Settings) -> bool:
    return _alive(gateway_processes(name, settings))


def _alive(processes: list[Process]) -> bool:
    """Whether the gateway's master runs (it replaces its workers itself)."""
    return bool(processes) and is_running(processes[0])


def stop_gateway(name: str, settings: Settings) -> None:
    """Stop the gateway by its master's PID (which stops the workers, each finishing what it answers),
    its record left as it is (a reconcile starts it again). What is left in the master's session after
    the workers' grace is killed."""
    stop(gateway_processes(name, settings)[:1], timeout=GRACEFUL_TIMEOUT + 5.0)


def release_endpoint(name: str, settings: Settings) -> int | None:
    """Stop the gateway by PID and give up the model's port, so any later deploy (of this
    model or another) may take it; returns the port freed, if the model had one."""
    stop_gateway(name, settings)
    route_file(name, settings).unlink(missing_ok=True)
    shutil.rmtree(state_folder(route_file(name, settings)), ignore_errors=True)
    with session_scope(settings) as session:
        row = session.get(Endpoint, name)
        if row is None:
            return None
        session.delete(row)
        return row.port


def _launch_gateway(name: str, port: int, settings: Settings) -> Process:
    command = [sys.executable, "-m", "bento_services.gateway", "--host", settings.serve_host, "--port", str(port),
               "--routes", str(route_file(name, settings)), "--workers", str(settings.gateway_workers),
               "--state", str(state_folder(route_file(name, settings)))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_repo()), os.environ.get("PYTHONPATH")]))}
    return launch(f"gateway-{name}", command, env=env, log=settings.home / "deployments" / name / "gateway.log")


def _repo() -> Path:
    return Path(__file__).resolve().parents[1]


def current_challenger(path: Path) -> ChallengerRoute | None:
    """The challenger section of a model's route file, if it has one."""
    try:
        return ChallengerRoute.of(json.loads(path.read_text()).get("challenger"))
    except (OSError, ValueError, TypeError):
        return None


def _wait_for_route(url: str, expected: tuple[list[str], list[str] | None], gateway: Process) -> None:
    """Until the gateway reports the champion's and the challenger's upstreams it was given, in every worker."""
    deadline = time.monotonic() + GATEWAY_READY_TIMEOUT
    while time.monotonic() < deadline:
        if not is_running(gateway):
            raise EndpointError(f"the gateway for {url} exited:\n{log_tail(gateway)}")
        try:
            status = httpx.get(f"{url}{STATUS_PATH}", timeout=2.0).json()
            if (status.get("upstreams"), (status.get("challenger") or {}).get("upstreams")) == expected \
                    and status.get("workers_agree"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    raise EndpointError(f"the gateway at {url} did not switch to {', '.join(expected[0])} within "
                        f"{GATEWAY_READY_TIMEOUT:.0f} s")


def _info(row: Endpoint) -> EndpointInfo:
    return EndpointInfo(model_name=row.model_name, port=row.port, url=row.url,
                        pids=[record["pid"] for record in row.pids], deployment_id=row.deployment_id)


def set_deployment(name: str, deployment_id: int, settings: Settings) -> None:
    """Note which deployment the endpoint now forwards to."""
    with session_scope(settings) as session:
        row = session.get(Endpoint, name)
        if row is not None:
            row.deployment_id = deployment_id
