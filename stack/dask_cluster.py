"""The platform's long-lived Dask cluster: a scheduler with its dashboard, and worker processes.

Batch runs (``modelyard score`` and Airflow's scoring tasks, through the ``dask_default``
connection) use it warm instead of starting a cluster each. Everything listens on loopback.
When the settings name a scheduler (``MODELYARD_DASK_SCHEDULER``), that cluster is the
platform's and nothing is started here.
"""

from __future__ import annotations

import httpx

from pipelines.scoring.cluster import scheduler_command, worker_command
from infra.probes import local_url
from infra import processes
from infra.processes import Process
from registry.settings import Settings
from stack import service

SERVICE = "dask"
SCHEDULER = "dask-scheduler"
WORKERS = "dask-workers"


def replaced_by(settings: Settings) -> str | None:
    return settings.dask_scheduler


def address(settings: Settings) -> str:
    return f"tcp://127.0.0.1:{settings.dask_port}"


def dashboard(settings: Settings) -> str:
    return local_url(settings.dask_dashboard_port)


def start(settings: Settings, env: dict[str, str], *, timeout: float = 120.0) -> list[Process]:
    """The scheduler, then its workers; returns once every worker has joined."""
    service.require_free(settings.dask_port, "dask_port")
    service.require_free(settings.dask_dashboard_port, "dask_dashboard_port")
    launched: list[Process] = []
    try:
        launched.append(service.launch(settings, SERVICE, SCHEDULER, _command(settings, SCHEDULER), env))
        service.wait_until(lambda: service.http_ok(f"{dashboard(settings)}/health"), launched, "the Dask scheduler",
                           timeout)
        launched.append(service.launch(settings, SERVICE, WORKERS, _command(settings, WORKERS), env))
        service.wait_until(lambda: workers_joined(settings) >= settings.dask_workers, launched, "the Dask workers",
                           timeout)
    except BaseException:
        processes.stop(list(reversed(launched)), timeout=10.0)
        raise
    return launched


def relaunch(settings: Settings, env: dict[str, str], process: Process, record: dict) -> Process:
    """The scheduler or the workers again as ``start`` ran them, without waiting (workers that
    start before their scheduler keep trying to reach it)."""
    return service.launch(settings, SERVICE, process.name, _command(settings, process.name), env)


def _command(settings: Settings, name: str) -> list[str]:
    if name == SCHEDULER:
        return scheduler_command(settings.dask_port, dashboard_port=settings.dask_dashboard_port)
    return worker_command(address(settings), nworkers=settings.dask_workers, memory_limit=settings.dask_worker_memory)


def workers_joined(settings: Settings) -> int:
    """How many workers the scheduler knows (0 when it does not answer)."""
    try:
        return len(httpx.get(f"{dashboard(settings)}/json/identity.json", timeout=service.PROBE_TIMEOUT)
                   .json()["workers"])
    except (httpx.HTTPError, ValueError, KeyError):
        return 0


def health(settings: Settings) -> dict[str, bool]:
    return {SCHEDULER: service.http_ok(f"{dashboard(settings)}/health"),
            WORKERS: workers_joined(settings) >= settings.dask_workers}


def urls(settings: Settings) -> dict[str, str]:
    return {SCHEDULER: f"{address(settings)} (dashboard {dashboard(settings)}/status)",
            WORKERS: f"{settings.dask_workers} workers"}
