"""The record of online deployments: its reads, as every front makes them, and its writes, which
only ``bento_services`` makes (a launch, a failure, a retire, a repair).

A deployment is one launch of a model version as a server; the latest ``running`` one per
model is desired state. Health is read off the machine: the recorded processes alive (by PID
and start time) and the server answering ``/readyz``. Traffic is read off the model's gateway
(``live_traffic``): what its URL answered in the last minute.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, computed_field
from sqlalchemy import func, select

from infra.probes import get_json, is_ready, local_url
from infra.processes import Process, is_running
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import Challenge, Deployment, Endpoint
from registry.runtimes import RuntimeChoice
from registry.settings import Settings

GATEWAY_STATUS_PATH = "/-/gateway"  # what bento_services.gateway answers with its route and traffic


class Traffic(BaseModel):
    """What a model's URL answered in the last ``window_seconds`` (and since its gateway started).
    An error is an answer of status 500 or more; health checks are not counted."""

    model_version: int | None
    window_seconds: float
    requests: int
    errors: int
    requests_per_minute: float
    error_rate: float | None  # None without requests
    p50_ms: float | None
    p99_ms: float | None
    total_requests: int
    total_errors: int
    since: datetime  # when the gateway started counting (UTC)


class Replica(BaseModel):
    """One ``bentoml serve`` of a deployment, by PID: as its row keeps it (``{"port", "pids"}``) and
    as the serving steps pass it on; ``processes`` grows with its workers once it is healthy."""

    port: int
    processes: list[dict[str, Any]]  # ``infra.processes.Process`` records, the leader first

    @classmethod
    def of(cls, record: dict[str, Any]) -> Replica:
        return cls(port=record["port"], processes=record["pids"])

    @property
    def url(self) -> str:
        return local_url(self.port)

    def process_list(self) -> list[Process]:
        return [Process(**record) for record in self.processes]

    def record(self) -> dict[str, Any]:
        """As the row's ``replicas`` column keeps it."""
        return {"port": self.port, "pids": self.processes}


class ReplicaInfo(BaseModel):
    """A replica as the fronts show it: its slot, port, PIDs and, when checked, its health."""

    slot: int
    port: int
    pids: list[int]
    healthy: bool | None = None

    @property
    def url(self) -> str:
        return local_url(self.port)


class RollbackChoice(BaseModel):
    """Where a rollback of a running model would go: the earlier deployment, or why there is none."""

    to_version: int | None
    deployment_id: int | None
    reason: str | None = None

    @property
    def possible(self) -> bool:
        return self.deployment_id is not None


class DeploymentInfo(BaseModel):
    """One launch of a model version, with a live health check when one was asked for.

    ``url`` is the model's stable endpoint; ``backend_url`` the server of this deployment."""

    id: int
    model_name: str
    model_version: int
    bento_tag: str | None
    bento_error: str | None = None
    url: str | None
    port: int | None
    pids: list[int]
    status: str
    status_reason: str | None
    request_id: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    runtime: RuntimeChoice | None = None  # what serves it (None: deployed before runtimes were chosen)
    healthy: bool | None = None
    replicas: list[ReplicaInfo] = []
    traffic: Traffic | None = None  # a running deployment's, in a live listing

    @property
    def backend_url(self) -> str | None:
        return local_url(self.port) if self.port else None

    @computed_field
    @property
    def bento_state(self) -> Literal["built", "building", "failed"] | None:
        """A swap serves before its bento is built (``bento_services.swaps``): "building" until the
        background build records its tag, or why it failed. None: a deployment that never served."""
        if self.bento_tag:
            return "built"
        if self.bento_error:
            return "failed"
        return "building" if self.status in ("running", "challenger") else None

    @computed_field
    @property
    def endpoint_port(self) -> int | None:
        """The port of the model's stable URL (its gateway); ``port`` is a replica's, behind it."""
        return urlsplit(self.url).port if self.url else None


def list_deployments(*, settings: Settings, live: bool = True, model_name: str | None = None) -> list[DeploymentInfo]:
    """Every deployment (of one model, if named), newest first; running ones get a health check when ``live``."""
    query = select(Deployment).order_by(Deployment.id.desc())
    if model_name is not None:
        query = query.where(Deployment.model_name == model_name)
    with session_scope(settings) as session:
        rows = list(session.scalars(query))
    return _with_health(rows, live, settings)


def current_deployments(*, settings: Settings, live: bool = True) -> dict[str, DeploymentInfo]:
    """Each model's running deployment, else the one that changed last (failed, stopped or
    replaced), in one query; running ones health-checked side by side. A failed deploy leaves the
    previous one serving, and that is what a model's row shows; an undeploy after a failed deploy
    shows the undeploy."""
    changed_last = (select(Deployment.model_name, func.max(Deployment.updated_at).label("at"))
                    .group_by(Deployment.model_name).subquery())
    query = (select(Deployment)
             .outerjoin(changed_last, (Deployment.model_name == changed_last.c.model_name)
                        & (Deployment.updated_at == changed_last.c.at))
             .where((Deployment.status == "running") | changed_last.c.at.is_not(None))
             .order_by(Deployment.id))
    with session_scope(settings) as session:
        rows = list(session.scalars(query))
    chosen: dict[str, Deployment] = {}
    for row in rows:  # a running row is kept over any other
        if row.model_name not in chosen or chosen[row.model_name].status != "running":
            chosen[row.model_name] = row
    return {info.model_name: info for info in _with_health(list(chosen.values()), live, settings)}


def running(name: str, *, settings: Settings) -> list[Deployment]:
    """The model's deployments recorded as running, newest first (one, but for a failed retire)."""
    with session_scope(settings) as session:
        query = select(Deployment).where(Deployment.model_name == name, Deployment.status == "running")
        return list(session.scalars(query.order_by(Deployment.id.desc())))


def rollback_choices(*, settings: Settings, model_name: str | None = None) -> dict[str, RollbackChoice]:
    """For each model with a running deployment (or the one named): the deployment a rollback
    serves again, the latest earlier one of another version that served as champion (a challenger
    that ended never did), or why there is none. Two queries whatever the number of models."""
    with session_scope(settings) as session:
        current_query = select(Deployment).where(Deployment.status == "running").order_by(Deployment.id)
        challengers = select(Challenge.deployment_id).where(Challenge.deployment_id.is_not(None))
        earlier_query = (select(Deployment).where(Deployment.status.in_(["replaced", "stopped"]),
                                                  Deployment.id.not_in(challengers))  # never served as champion
                         .order_by(Deployment.id.desc()))
        if model_name is not None:
            current_query = current_query.where(Deployment.model_name == model_name)
            earlier_query = earlier_query.where(Deployment.model_name == model_name)
        current = {row.model_name: row for row in session.scalars(current_query)}  # the newest running wins
        earlier = list(session.scalars(earlier_query))
    choices = {}
    for name, now in current.items():
        target = next((row for row in earlier if row.model_name == name and row.id < now.id
                       and row.model_version != now.model_version), None)
        choices[name] = RollbackChoice(to_version=target.model_version, deployment_id=target.id) if target else \
            RollbackChoice(to_version=None, deployment_id=None,
                           reason=f"no earlier deployed version to roll back to (version {now.model_version} is "
                                  "the only one)")
    return choices


def live_traffic(name: str, *, settings: Settings) -> Traffic | None:
    """The model's traffic as its gateway counts it; None when it has no endpoint or the gateway
    does not answer."""
    port = _gateway_port(name, settings)
    return traffic_at(port) if port else None


def traffic_at(port: int) -> Traffic | None:
    """The traffic the gateway on this machine's ``port`` reports; None if it does not answer."""
    try:
        status = _status_at(port)
        return Traffic(model_version=status.get("model_version"), **status["traffic"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def gateway_status(name: str, *, settings: Settings) -> dict | None:
    """The whole ``/-/gateway`` report of the model's gateway (route, rotation, traffic, challenger);
    None when it has no endpoint or does not answer."""
    port = _gateway_port(name, settings)
    try:
        return _status_at(port) if port else None
    except (httpx.HTTPError, ValueError):
        return None


def _gateway_port(name: str, settings: Settings) -> int | None:
    with session_scope(settings) as session:
        endpoint = session.get(Endpoint, name)
        return endpoint.port if endpoint else None


def _status_at(port: int) -> dict:
    return get_json(port, GATEWAY_STATUS_PATH)


def for_request(request_id: str, *, settings: Settings) -> DeploymentInfo | None:
    """The deployment a workflow run (its Airflow run id) recorded, running or failed."""
    with session_scope(settings) as session:
        row = session.scalars(select(Deployment).where(Deployment.request_id == request_id)
                              .order_by(Deployment.id.desc())).first()
        return info_of(row, healthy=None) if row else None


def recorded_processes(row: Deployment) -> list[Process]:
    """Every process of the deployment, all replicas'."""
    return [Process(**record) for record in row.pids]


def replicas_of(row: Deployment) -> list[Replica]:
    """One per replica (a deployment from before replicas has one)."""
    if row.replicas is not None:
        return [Replica.of(record) for record in row.replicas]
    return [Replica(port=row.port, processes=row.pids)] if row.port else []


def replica_urls(row: Deployment) -> list[str]:
    return [replica.url for replica in replicas_of(row)]


def replica_state(replica: Replica) -> str:
    """``ready``; ``dead`` (its server's leader process is gone: nothing will bring it back); or
    ``not_ready`` (alive but not answering ``/readyz``: a worker restarting, or a stall)."""
    processes = replica.process_list()
    if not processes or not is_running(processes[0]):
        return "dead"
    return "ready" if is_ready(replica.port) else "not_ready"


def replica_healthy(replica: Replica) -> bool:
    """Its server alive and answering ``/readyz`` (a worker BentoML restarted has a new PID: the
    leader's is the one that counts)."""
    return replica_state(replica) == "ready"


def is_healthy(row: Deployment) -> bool:
    """Every replica healthy."""
    replicas = replicas_of(row)
    return bool(replicas) and all(replica_healthy(replica) for replica in replicas)


def info_of(row: Deployment, *, healthy: bool | None, replicas_healthy: list[bool] | None = None) -> DeploymentInfo:
    """The row as the fronts show it, with each replica's health when checked."""
    fields: dict[str, Any] = {column: getattr(row, column) for column in DeploymentInfo.model_fields
                              if column not in ("pids", "healthy", "replicas", "traffic")}
    states = replicas_healthy or [None] * len(replicas_of(row))
    replicas = [ReplicaInfo(slot=slot, port=replica.port, pids=[record["pid"] for record in replica.processes],
                            healthy=state)
                for slot, (replica, state) in enumerate(zip(replicas_of(row), states))]
    return DeploymentInfo(**fields, pids=[record["pid"] for record in row.pids], healthy=healthy, replicas=replicas)


def _with_health(rows: list[Deployment], live: bool, settings: Settings) -> list[DeploymentInfo]:
    """Running deployments with each replica checked and their gateway's traffic, all side by side."""
    checked = [(row.id, replica) for row in rows if live and row.status == "running" for replica in replicas_of(row)]
    ports = _endpoint_ports(rows, settings) if live else {}
    with ThreadPoolExecutor(max_workers=min(8, len(checked) + len(ports) or 1)) as pool:
        counted = dict(zip(ports, pool.map(traffic_at, ports.values())))
        states = list(pool.map(lambda item: replica_healthy(item[1]), checked))
    health: dict[int, list[bool]] = {}
    for (row_id, _), state in zip(checked, states):
        health.setdefault(row_id, []).append(state)
    infos = []
    for row in rows:
        states = health.get(row.id, []) if live and row.status == "running" else None
        info = info_of(row, healthy=None if states is None else bool(states) and all(states), replicas_healthy=states)
        info.traffic = counted.get(row.id)
        infos.append(info)
    return infos


def _endpoint_ports(rows: list[Deployment], settings: Settings) -> dict[int, int]:
    """``{deployment id: its model's endpoint port}`` for the running deployment each endpoint
    serves (the newest running one of the model when the endpoint names none)."""
    names = {row.model_name for row in rows if row.status == "running"}
    if not names:
        return {}
    with session_scope(settings) as session:
        endpoints = list(session.scalars(select(Endpoint).where(Endpoint.model_name.in_(names))))
    ports = {}
    for endpoint in endpoints:
        serving = [row for row in rows if row.model_name == endpoint.model_name and row.status == "running"]
        chosen = next((row for row in serving if row.id == endpoint.deployment_id), None) or \
            max(serving, key=lambda row: row.id)
        ports[chosen.id] = endpoint.port
    return ports


# --- writes: made by bento_services only ------------------------------------------------------

def record_running(*, model_name: str, model_version: int, bento_tag: str | None, replicas: list[Replica], url: str,
                   action: str, actor: str, request_id: str | None, settings: Settings,
                   status: str = "running", runtime: RuntimeChoice | None = None) -> DeploymentInfo:
    """A deployment of ``replicas``, with an event naming the actor; ``port`` is the first
    replica's. ``status`` "challenger": serving behind a champion's URL (``bento_services.challenges``)."""
    with session_scope(settings) as session:
        row = Deployment(model_name=model_name, model_version=model_version, bento_tag=bento_tag, url=url,
                         status=status, created_by=actor, request_id=request_id,
                         runtime=runtime.model_dump(mode="json") if runtime else None, **_replica_columns(replicas))
        session.add(row)
        session.flush()
        record_event(session, actor=actor, action=action, model_name=model_name, model_version=model_version,
                     details={"deployment_id": row.id, "url": url,
                              "backend_urls": [replica.url for replica in replicas],
                              "pids": [record["pid"] for record in row.pids],
                              "runtime": runtime.summary if runtime else None})
        return info_of(row, healthy=True)


def record_failed(*, model_name: str, model_version: int, bento_tag: str | None, port: int | None,
                  processes: list[Process], step: str, reason: str, actor: str, request_id: str | None,
                  settings: Settings) -> None:
    """A deploy that failed at ``step``, with the PIDs it had started (all stopped by then)."""
    with session_scope(settings) as session:
        row = Deployment(model_name=model_name, model_version=model_version, bento_tag=bento_tag or None, port=port,
                         created_by=actor, pids=[asdict(process) for process in processes], status="failed",
                         status_reason=f"step '{step}': {reason}", request_id=request_id)
        session.add(row)
        session.flush()
        record_event(session, actor=actor, action="deploy_failed", model_name=model_name, model_version=model_version,
                     details={"deployment_id": row.id, "step": step, "reason": reason[:2000]})


def set_status(deployment_id: int, *, reason: str, settings: Settings, status: str | None = None,
               action: str | None = None, actor: str | None = None,
               details: dict[str, Any] | None = None) -> DeploymentInfo:
    """A new status (or the same, when None) and why; with an event when ``action`` is given."""
    with session_scope(settings) as session:
        row = session.get(Deployment, deployment_id)
        row.status, row.status_reason = status or row.status, reason
        session.flush()
        if action is not None:
            record_event(session, actor=actor or settings.user, action=action, model_name=row.model_name,
                         model_version=row.model_version, details={"deployment_id": row.id, **(details or {})})
        return info_of(row, healthy=None)


def set_bento_tag(deployment_id: int, bento_tag: str, *, settings: Settings) -> None:
    """The bento of a deployment that was served before its bento was built (a swap's)."""
    with session_scope(settings) as session:
        row = session.get(Deployment, deployment_id)
        row.bento_tag, row.bento_error = bento_tag, None


def set_bento_failed(deployment_id: int, reason: str, *, settings: Settings) -> None:
    """Why that bento could not be built: the deployment serves on, and a restart builds again."""
    with session_scope(settings) as session:
        session.get(Deployment, deployment_id).bento_error = reason


def set_replicas(deployment_id: int, replicas: list[Replica], *, bento_tag: str, reason: str,
                 settings: Settings) -> None:
    """The deployment's replicas after a repair: the row keeps its id, version and creator."""
    with session_scope(settings) as session:
        row = session.get(Deployment, deployment_id)
        for column, value in _replica_columns(replicas).items():
            setattr(row, column, value)
        row.bento_tag, row.status_reason = bento_tag, reason
        if bento_tag:
            row.bento_error = None


def _replica_columns(replicas: list[Replica]) -> dict[str, Any]:
    """The row's columns that its replicas fill: each replica, the first one's port, every PID."""
    return {"replicas": [replica.record() for replica in replicas], "port": replicas[0].port,
            "pids": [record for replica in replicas for record in replica.processes]}
