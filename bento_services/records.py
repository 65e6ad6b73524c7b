"""Writing the deployment record: a deployment that runs, one that failed, one that was retired.

Each write also records an event naming the actor (the Airflow user who asked, or the login of
the process for the CLI).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bento_services.servers import stop_server
from infra.probes import local_url
from infra.processes import Process, is_running
from registry.deployments import DeploymentInfo, info_of, recorded_processes, replicas_of
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import Deployment
from registry.settings import Settings


def record_running(*, model_name: str, model_version: int, bento_tag: str, replicas: list[dict[str, Any]],
                   url: str, action: str, actor: str, request_id: str | None, settings: Settings,
                   status: str = "running") -> DeploymentInfo:
    """A deployment of ``replicas`` (``{"port", "pids"}`` each); ``port`` is the first one's.
    ``status`` "challenger": serving behind a champion's URL (``bento_services.challenges``)."""
    processes = [record for replica in replicas for record in replica["pids"]]
    with session_scope(settings) as session:
        row = Deployment(model_name=model_name, model_version=model_version, bento_tag=bento_tag, url=url,
                         port=replicas[0]["port"], pids=processes, replicas=replicas, status=status,
                         created_by=actor, request_id=request_id)
        session.add(row)
        session.flush()
        record_event(session, actor=actor, action=action, model_name=model_name, model_version=model_version,
                     details={"deployment_id": row.id, "url": url,
                              "backend_urls": [local_url(replica["port"]) for replica in replicas],
                              "pids": [record["pid"] for record in processes]})
        return info_of(row, healthy=True)


def record_failed(*, model_name: str, model_version: int, bento_tag: str | None, port: int | None,
                  processes: list[Process], step: str, reason: str, actor: str, request_id: str | None,
                  settings: Settings) -> None:
    with session_scope(settings) as session:
        row = Deployment(model_name=model_name, model_version=model_version, bento_tag=bento_tag or None, port=port,
                         created_by=actor, pids=[asdict(process) for process in processes], status="failed",
                         status_reason=f"step '{step}': {reason}", request_id=request_id)
        session.add(row)
        session.flush()
        record_event(session, actor=actor, action="deploy_failed", model_name=model_name, model_version=model_version,
                     details={"deployment_id": row.id, "step": step, "reason": reason[:2000]})


def stop_replicas(row: Deployment) -> list[Process]:
    """Stop every replica's server by PID (each with the workers it forked), then anything else recorded."""
    stopped = [process for replica in replicas_of(row)
               for process in stop_server([Process(**record) for record in replica["pids"]])]
    return stopped + stop_server([process for process in recorded_processes(row) if is_running(process)])


def retire(row: Deployment, *, status: str, reason: str, action: str, actor: str, settings: Settings,
           details: dict[str, Any] | None = None) -> DeploymentInfo:
    """Stop a deployment's recorded processes, replica by replica, and write its new status with an
    event (``details`` added to it)."""
    stop_replicas(row)
    with session_scope(settings) as session:
        current = session.get(Deployment, row.id)
        current.status, current.status_reason = status, reason
        session.flush()
        record_event(session, actor=actor, action=action, model_name=current.model_name,
                     model_version=current.model_version, details={"deployment_id": current.id, **(details or {})})
        return info_of(current, healthy=None)
