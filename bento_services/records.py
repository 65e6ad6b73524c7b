"""Writing the deployment record: a deployment that runs, one that failed, one that was retired.

Each write also records an event naming the actor (the Airflow user who asked, or the login of
the process for the CLI).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bento_services.servers import stop_server
from registry.deployments import DeploymentInfo, info_of, recorded_processes
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.metadata.tables import Deployment
from registry.processes import Process
from registry.settings import Settings


def record_running(*, model_name: str, model_version: int, bento_tag: str, port: int, processes: list[dict[str, Any]],
                   url: str, backend_url: str, action: str, actor: str, request_id: str | None,
                   settings: Settings) -> DeploymentInfo:
    with session_scope(settings) as session:
        row = Deployment(model_name=model_name, model_version=model_version, bento_tag=bento_tag, url=url, port=port,
                         pids=processes, status="running", created_by=actor, request_id=request_id)
        session.add(row)
        session.flush()
        record_event(session, actor=actor, action=action, model_name=model_name, model_version=model_version,
                     details={"deployment_id": row.id, "url": url, "backend_url": backend_url,
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


def retire(row: Deployment, *, status: str, reason: str, action: str, actor: str, settings: Settings) -> DeploymentInfo:
    """Stop a deployment's recorded processes and write its new status with an event."""
    stop_server(recorded_processes(row))
    with session_scope(settings) as session:
        current = session.get(Deployment, row.id)
        current.status, current.status_reason = status, reason
        session.flush()
        record_event(session, actor=actor, action=action, model_name=current.model_name,
                     model_version=current.model_version, details={"deployment_id": current.id})
        return info_of(current, healthy=None)
