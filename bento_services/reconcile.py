"""Deployments are desired state: bring every running deployment back if its processes died.

For each model whose latest deployment is recorded as ``running``:
- a replica (backend server) that is gone or does not answer ``/readyz`` is started again from
  the same bento on a spare port, checked (health and parity), and the model's gateway routed to
  all of them; the deployment keeps its row (id, version, creator) with the new ports and PIDs;
- a gateway that is gone is started again on the model's port.

``modelyard up`` runs it once, the platform's watchdog (``bento_services.healing``) every few
seconds, the ``reconcile_deployments`` DAG every few minutes, and ``modelyard deployments
reconcile`` on demand. Each repair writes an event.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select

from bento_services import chain, endpoints
from bento_services.model_lock import WAIT_SECONDS, model_lock
from bento_services.records import stop_replicas
from bento_services.routes import Route
from bento_services.servers import stop_server
from bento_services.spares import start_spares, stop_spares
from bento_services.steps import DeployContext, build_of, run_chain
from registry.deployments import replica_state, replica_urls, replicas_of, running, set_replicas
from registry.errors import ConflictError
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import Deployment
from registry.settings import Settings


@dataclass(frozen=True)
class Repair:
    """What reconcile did for one model: ``ok``, ``restarted``, ``gateway_restarted``, ``busy`` (a
    deploy held its lock) or ``failed``."""

    model_name: str
    model_version: int
    deployment_id: int
    action: str
    detail: str = ""


def reconcile(*, settings: Settings, actor: str | None = None) -> list[Repair]:
    """Restart what died among running deployments, and their spares (all of them after a
    ``down``); one ``Repair`` per running deployment. The watchdog repairs replicas only: spares
    it started while a swap loads would take the swap's CPU."""
    actor = actor or settings.user
    serving = latest_running(settings).values()
    repairs = [reconcile_model(row, settings, actor) for row in serving]
    for row in serving:
        start_spares(row.model_name, len(replicas_of(row)), settings)
    return [repair for repair in repairs if repair is not None]


def stop_serving(*, settings: Settings, actor: str | None = None) -> list[Repair]:
    """Stop every running deployment's server and gateway by PID and keep the records as they
    are, so the next reconcile brings them back (``modelyard down --deployments``); a challenge
    ends (its challenger is not brought back)."""
    stopped = []
    for row in latest_running(settings).values():
        with model_lock(row.model_name, settings):
            from bento_services.challenges import stop_challenge_of

            stop_challenge_of(row.model_name, reason="the platform's deployments were stopped",
                              actor=actor or settings.user, settings=settings)
            endpoints.stop_gateway(row.model_name, settings)
            stop_spares(row.model_name, settings)
            stop_replicas(row)
        stopped.append(Repair(row.model_name, row.model_version, row.id, "stopped"))
    return stopped


def latest_running(settings: Settings) -> dict[str, Deployment]:
    """Each model's newest deployment recorded as running."""
    with session_scope(settings) as session:
        rows = list(session.scalars(select(Deployment).where(Deployment.status == "running").order_by(Deployment.id.desc())))
    latest: dict[str, Deployment] = {}
    for row in rows:
        latest.setdefault(row.model_name, row)
    return latest


def reconcile_model(seen: Deployment, settings: Settings, actor: str, *, tolerate: Collection[int] = (),
                    lock_timeout: float = WAIT_SECONDS) -> Repair | None:
    """Under the model's lock, its latest running deployment as it is now (a promote or an
    undeploy may have retired the one ``seen`` while the lock was waited for): checked, repaired.

    A replica whose server is gone is started again; one that is alive but not ready is too,
    unless its slot is in ``tolerate`` (the watchdog gives a restarting worker time). A lock not
    had within ``lock_timeout`` (a deploy at work) is a ``busy`` repair: nothing was done."""
    try:
        with model_lock(seen.model_name, settings, timeout=lock_timeout):
            rows = running(seen.model_name, settings=settings)
            return _reconcile_one(rows[0], settings, actor, tolerate) if rows else None
    except ConflictError as error:  # the lock was not had in time
        return Repair(seen.model_name, seen.model_version, seen.id, "busy", str(error))


def _reconcile_one(row: Deployment, settings: Settings, actor: str, tolerate: Collection[int] = ()) -> Repair:
    try:
        states = [replica_state(replica) for replica in replicas_of(row)]
        down = [slot for slot, state in enumerate(states)
                if state == "dead" or (state == "not_ready" and slot not in tolerate)]
        if down:
            return _restart_replicas(row, down, settings, actor)  # routing to them restarts a dead gateway too
        endpoint = endpoints.get_endpoint(row.model_name, settings)
        if endpoint is None or endpoints.gateway_running(row.model_name, settings):
            return Repair(row.model_name, row.model_version, row.id, "ok")
        endpoints.route_to(row.model_name, endpoint.port, Route(row.model_name, row.model_version, replica_urls(row)),
                           settings, keep_challenger=True)
        _event(row, "endpoint_restarted", {"url": endpoint.url}, settings, actor)
        return Repair(row.model_name, row.model_version, row.id, "gateway_restarted", endpoint.url)
    except Exception as error:  # one model's failure must not stop the others' repair
        _event(row, "reconcile_failed", {"reason": f"{type(error).__name__}: {error}"[:2000]}, settings, actor)
        return Repair(row.model_name, row.model_version, row.id, "failed", f"{type(error).__name__}: {error}")


def _restart_replicas(row: Deployment, slots: list[int], settings: Settings, actor: str) -> Repair:
    """The same bento again for each replica in ``slots`` (on new ports, checked: ``chain.RESTART``),
    then the gateway routed to all of them; the row keeps its id."""
    replicas = replicas_of(row)
    for slot in slots:  # whatever half of them is left
        stop_server(replicas[slot].process_list())
    ctx = DeployContext(settings=settings, actor=actor, record_failures=False, slots=slots,
                        runtime=(row.runtime or {}).get("requested", "auto"))  # a rebuild asks as the deploy did
    built = build_of(row, ctx)
    launched = run_chain(chain.RESTART, built, ctx)
    for slot, replica in zip(slots, launched.replicas):
        replicas[slot] = replica
    endpoint = endpoints.get_endpoint(row.model_name, settings)
    if endpoint is not None:
        route = Route(row.model_name, row.model_version, [replica.url for replica in replicas])
        endpoints.route_to(row.model_name, endpoint.port, route, settings, keep_challenger=True)
    set_replicas(row.id, replicas, bento_tag=built.bento_tag,
                 reason=f"replica {', '.join(map(str, slots))} restarted by {actor}", settings=settings)
    seconds = {step: round(value, 2) for step, value in ctx.timings.items()}  # where a repair's time goes
    _event(row, "deployment_restarted", {"replicas": slots, "backend_urls": launched.urls, "seconds": seconds,
                                         "pids": [record["pid"] for record in launched.processes]}, settings, actor)
    where = f", served at {endpoint.url}" if endpoint else ""
    return Repair(row.model_name, row.model_version, row.id, "restarted",
                  f"new server{'s' if len(slots) > 1 else ''} {', '.join(launched.urls)}{where}")


def _event(row: Deployment, action: str, details: dict, settings: Settings, actor: str) -> None:
    with session_scope(settings) as session:
        record_event(session, actor=actor, action=action, model_name=row.model_name,
                     model_version=row.model_version, details={"deployment_id": row.id, **details})
