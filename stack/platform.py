"""The whole platform on one machine: ``up``, ``status`` and ``down``, for the CLI, the demo and the tests.

``up`` starts, on loopback, each service the configuration does not replace with a real one:
the MLflow tracking server and UI, a long-lived Dask scheduler with its workers and dashboard,
and Airflow (scheduler, dag-processor, api-server with the Models page), whose ``dask_default``
connection points at that Dask cluster. Then it brings back every deployment that should be
serving. It is idempotent: what runs is reported and left alone, and only what is missing (never
started, crashed, or gone with a reboot) is started. ``status`` reads it all off the machine;
``down`` stops it by the PIDs recorded under the home, and the model servers only when asked
(deployments are desired state: the next ``up`` brings them back).

Between ``up`` and ``down`` the platform keeps itself running: the supervisor (``stack.supervisor``)
restarts any of its processes that dies with ``restart_process``'s machinery, and the
deployments' watchdog restarts the supervisor. Each service's lock (``service.lock``) keeps
``up``, ``down`` and a restart from acting on the same service at once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Callable, Literal

from pydantic import BaseModel

from infra import processes
from infra.backoff import Backoff
from infra.processes import Process
from registry.deployments import DeploymentInfo, list_deployments
from registry.settings import Settings
from stack import airflow, dask_cluster, mlflow_server, service, supervisor, watchdog
from stack.service import ProcessState, StackError

# A process that keeps dying: the first three restarts within 5 minutes at once, then 5, 10, 20 s
# after the last; after six, it is left down and shown as failed with the reason.
RESTART_BACKOFF = Backoff(window_s=300.0, free_restarts=3, first_wait_s=5.0, max_wait_s=60.0, max_restarts=6)
STOP_TIMEOUT = 15.0  # a deliberate restart's grace before SIGKILL


@dataclass(frozen=True)
class Service:
    """How the platform runs one service (the functions of its module)."""

    name: str
    replaced_by: Callable[[Settings], str | None]
    start: Callable[[Settings, dict[str, str]], list[Process]]
    health: Callable[[Settings], dict[str, bool]]
    urls: Callable[[Settings], dict[str, str]]
    # One recorded process again, as ``start`` ran it (environment, run-file record, old process),
    # returned as soon as it is launched.
    relaunch: Callable[[Settings, dict[str, str], Process, dict], Process]


class ServiceState(BaseModel):
    """A service after ``up`` or ``down``, or as ``status`` finds it (``crashed``: some of its
    recorded processes are gone; ``failed``: the supervisor gave up restarting one); ``replaced_by`` names the real service the settings use
    instead (then nothing of it runs here)."""

    name: str
    action: Literal["started", "restarted", "running", "crashed", "failed", "stopped", "absent", "replaced"]
    replaced_by: str | None = None
    processes: list[ProcessState] = []


class Login(BaseModel):
    user: str
    password: str


class RepairState(BaseModel):
    model_name: str
    model_version: int
    action: str
    detail: str


class PlatformState(BaseModel):
    """What ``up`` and ``status`` return: every service, the deployments, and how to log in."""

    home: str
    services: list[ServiceState]
    deployments: list[DeploymentInfo]
    repairs: list[RepairState] = []
    models_page: str | None = None
    login: Login | None = None

    @property
    def healthy(self) -> bool:
        return all(process.healthy for state in self.services for process in state.processes)


def services() -> list[Service]:
    """In start order: Airflow's tasks reach Dask, and the Models page reads MLflow's stores; the
    deployments' watchdog after them, and the supervisor last (``down`` stops those two first, so
    nothing restarts what is being stopped)."""
    return [
        Service(mlflow_server.SERVICE, mlflow_server.replaced_by, mlflow_server.start, mlflow_server.health,
                mlflow_server.urls, mlflow_server.relaunch),
        Service(dask_cluster.SERVICE, dask_cluster.replaced_by, dask_cluster.start, dask_cluster.health,
                dask_cluster.urls, dask_cluster.relaunch),
        Service(airflow.SERVICE, lambda _settings: None, _start_airflow, _airflow_health, _airflow_urls,
                lambda settings, _env, process, record: airflow.relaunch(settings, process, record)),
        Service(watchdog.SERVICE, watchdog.replaced_by, watchdog.start, watchdog.health, watchdog.urls,
                watchdog.relaunch),
        Service(supervisor.SERVICE, supervisor.replaced_by, supervisor.start, supervisor.health, supervisor.urls,
                supervisor.relaunch),
    ]


def service_named(name: str) -> Service:
    found = {each.name: each for each in services()}
    if name not in found:
        raise StackError(f"the platform has no service {name!r} (it has {', '.join(found)})", field="service")
    return found[name]


def up(settings: Settings, *, timeout: float = 240.0) -> PlatformState:
    """Start what is missing, leave what runs, then bring back the deployments that should serve."""
    from bento_services.reconcile import reconcile

    env = service.service_env(settings)
    *platform, watch, supervise = services()  # the watchdog after up's own repair, which up reports
    with ThreadPoolExecutor(max_workers=len(platform)) as pool:  # each start mostly waits
        states = list(pool.map(lambda each: _bring_up(each, settings, env), platform))
    repairs = [RepairState(model_name=r.model_name, model_version=r.model_version, action=r.action, detail=r.detail)
               for r in reconcile(settings=settings)]
    keepers = [_bring_up(watch, settings, env), _bring_up(supervise, settings, env)]
    return _state(settings, [*states, *keepers], repairs)


def status(settings: Settings) -> PlatformState:
    """Every service's processes with PID, URL, health and uptime, and the deployments' health."""
    states = []
    for each in services():
        replaced = each.replaced_by(settings)
        launched, extra = service.recorded(settings, each.name)
        failed = any(service.restart_history(extra, p.name).get("failed") and not processes.is_running(p)
                     for p in launched)
        action = "replaced" if replaced else "running" if service.all_running(launched) else \
            "failed" if failed else "crashed" if launched else "absent"
        states.append(ServiceState(name=each.name, action=action, replaced_by=replaced))
    return _state(settings, states, [])


def down(settings: Settings, *, deployments: bool = False) -> PlatformState:
    """Stop every service by its recorded PIDs, all at once; with ``deployments``, the model
    servers and gateways too, their records kept for the next ``up``."""
    names = [each.name for each in services()]
    *platform, watch, supervise = names
    with ExitStack() as held:  # waits for a restart under way; then none starts until all is stopped
        for name in names:
            held.enter_context(service.lock(settings, name))
        stopped = service.stop_recorded(settings, supervise, watch)  # the two that restart the others, first
        stopped |= service.stop_recorded(settings, *reversed(platform))  # Airflow signalled first: no new task
    states = [ServiceState(name=name, action="stopped" if stopped[name] else "absent",
                           processes=[_process_state(name, p, None, False, {}) for p in stopped[name]])
              for name in names]
    if deployments:
        from bento_services.reconcile import stop_serving

        stop_serving(settings=settings)
    return PlatformState(home=str(settings.home), services=states,
                         deployments=list_deployments(settings=settings, live=True))


def dask_address(settings: Settings) -> str | None:
    """The Dask scheduler batch runs should use: the configured one, else the platform's if it runs."""
    if settings.dask_scheduler:
        return settings.dask_scheduler
    launched, _ = service.recorded(settings, dask_cluster.SERVICE)
    return dask_cluster.address(settings) if service.all_running(launched) else None


def restart_process(settings: Settings, service_name: str, process: str, *, reason: str) -> ProcessState:
    """Restart one recorded process of a service: stop it by PID if it still runs (SIGTERM, then
    SIGKILL after a grace), clear what is left of its session, launch it as ``up`` did, and record
    the restart and ``reason`` in the service's run file. Returns once it is launched (its health
    follows later: ``status`` shows it)."""
    each = service_named(service_name)
    with service.lock(settings, each.name):
        launched, extra = service.recorded(settings, each.name)
        old = next((p for p in launched if p.name == process), None)
        if old is None:
            raise StackError(f"{service_name} records no process {process!r} to restart (it records: "
                             f"{', '.join(p.name for p in launched) or 'none'}; `modelyard up` starts it)",
                             field="process")
        if processes.is_running(old):
            processes.stop([old], timeout=STOP_TIMEOUT)
        new, extra = _relaunch(settings, each, old, extra, reason, time.time(), deliberate=True)
        service.record(settings, each.name, [new if p is old else p for p in launched], **extra)
    return _process_state(each.name, new, None, False, extra)


def restart_dead(settings: Settings, service_name: str, *, reason: Callable[[Process], str],
                 now: float | None = None) -> list[ProcessState]:
    """Restart each recorded process of a service that is gone, as ``RESTART_BACKOFF`` allows (one
    restarted too often is left down and marked failed). Passes at once when another command
    holds the service (an ``up`` starting it, a ``down``, a deliberate restart)."""
    each = service_named(service_name)
    now = time.time() if now is None else now
    with service.lock(settings, each.name, wait=False) as held:
        launched, extra = service.recorded(settings, each.name) if held else ([], {})
        restarted, current = [], list(launched)
        for index, old in enumerate(launched):
            history = service.restart_history(extra, old.name)
            if processes.is_running(old) or history.get("failed"):
                continue
            times = history.get("times", [])
            if RESTART_BACKOFF.exhausted(times, now):
                given_up = (f"left down after {len(RESTART_BACKOFF.recent(times, now))} restarts within "
                            f"{RESTART_BACKOFF.window_s:.0f} s; it died again: {reason(old)}")
                extra = service.with_restart(extra, old.name, given_up, now, failed=True)
                service.record(settings, each.name, current, **extra)
            elif RESTART_BACKOFF.wait_s(times, now) == 0:
                current[index], extra = _relaunch(settings, each, old, extra, reason(old), now)
                restarted.append(current[index])
                service.record(settings, each.name, current, **extra)
    return [_process_state(each.name, p, None, False, extra) for p in restarted]


def _relaunch(settings: Settings, each: Service, old: Process, extra: dict, reason: str,
              now: float, *, deliberate: bool = False) -> tuple[Process, dict]:
    """Launch ``old`` again after clearing its session; the run file's extra fields with the restart noted."""
    processes.stop_leftovers(old)
    new = each.relaunch(settings, service.service_env(settings), old, extra)
    return new, service.with_restart(extra, old.name, reason, now, deliberate=deliberate)


def _bring_up(each: Service, settings: Settings, env: dict[str, str]) -> ServiceState:
    replaced = each.replaced_by(settings)
    if replaced:
        return ServiceState(name=each.name, action="replaced", replaced_by=replaced)
    with service.lock(settings, each.name):  # the supervisor leaves it alone meanwhile
        launched, _ = service.recorded(settings, each.name)
        if service.all_running(launched):
            return ServiceState(name=each.name, action="running")
        service.stop_recorded(settings, each.name)  # what is left of a crash, by PID
        started = each.start(settings, env)
        if each.name != airflow.SERVICE:  # Airflow records its own, with its base URL
            service.record(settings, each.name, started)
    return ServiceState(name=each.name, action="restarted" if launched else "started")


def _state(settings: Settings, states: list[ServiceState], repairs: list[RepairState]) -> PlatformState:
    """Fill each state with its processes as the machine has them now."""
    by_name = {each.name: each for each in services()}
    filled = []
    for state in states:
        each = by_name[state.name]
        launched, extra = service.recorded(settings, each.name)
        health = each.health(settings) if launched else {}
        urls = each.urls(settings)
        filled.append(state.model_copy(update={"processes": [
            _process_state(each.name, process, urls.get(process.name), health.get(process.name, False), extra)
            for process in launched]}))
    airflow_up = any(s.name == airflow.SERVICE and s.processes for s in filled)
    return PlatformState(
        home=str(settings.home), services=filled, repairs=repairs,
        deployments=[d for d in list_deployments(settings=settings, live=True) if d.status == "running"],
        models_page=f"{_airflow_base(settings)}/plugin/models" if airflow_up else None,
        login=Login(user=airflow.USERNAME, password=airflow.admin_password(settings)) if airflow_up else None,
    )


def _process_state(name: str, process: Process, url: str | None, healthy: bool, extra: dict) -> ProcessState:
    uptime = service.uptime_seconds(process)
    history = service.restart_history(extra, process.name)
    return ProcessState(service=name, name=process.name, pid=process.pid, url=url, running=uptime is not None,
                        healthy=healthy and uptime is not None, uptime_seconds=uptime,
                        restarts=history.get("count", 0), last_reason=history.get("reason"),
                        last_restart_at=history.get("at"), failed=bool(history.get("failed")))


def _start_airflow(settings: Settings, env: dict[str, str]) -> list[Process]:
    """Airflow, its tasks pointed at the platform's Dask cluster (started beside it) or the configured one."""
    service.require_free(settings.airflow_port, "airflow_port")
    extra = {"AIRFLOW_CONN_DASK_DEFAULT": settings.dask_scheduler or dask_cluster.address(settings)}
    return airflow.start(settings, api_port=settings.airflow_port, extra_env=extra).processes


def _airflow_health(settings: Settings) -> dict[str, bool]:
    """What the api-server reports of its components; a Celery worker counts as healthy while it runs."""
    launched, _ = service.recorded(settings, airflow.SERVICE)
    reported = airflow.component_health(_airflow_base(settings))
    return {process.name: reported.get(process.name, processes.is_running(process)) for process in launched}


def _airflow_urls(settings: Settings) -> dict[str, str]:
    return {"api-server": _airflow_base(settings)}


def _airflow_base(settings: Settings) -> str:
    """Where the recorded Airflow answers (the port it was started on), else where it would."""
    _, extra = service.recorded(settings, airflow.SERVICE)
    return extra.get("base_url") or airflow.base_url(settings.airflow_port)
