"""Retiring a deployment: its processes stopped by PID, then its record's new status.

The record's other writes (a launch, a failure, a repair) are ``registry.deployments``'s, beside
its reads; this module adds what needs the machine: stopping the servers.
"""

from __future__ import annotations

from typing import Any

from bento_services.servers import stop_server, stop_servers
from infra.processes import Process, is_running
from registry.deployments import DeploymentInfo, recorded_processes, replicas_of, set_status
from registry.metadata.tables import Deployment
from registry.settings import Settings


def stop_replicas(row: Deployment) -> list[Process]:
    """Stop every replica's server by PID (each with the workers it forked), then anything else recorded."""
    stopped = stop_servers([replica.process_list() for replica in replicas_of(row)])
    return stopped + stop_server([process for process in recorded_processes(row) if is_running(process)])


def retire(row: Deployment, *, status: str, reason: str, action: str, actor: str, settings: Settings,
           details: dict[str, Any] | None = None) -> DeploymentInfo:
    """Stop a deployment's recorded processes, replica by replica, and write its new status with an
    event (``details`` added to it)."""
    stop_replicas(row)
    return set_status(row.id, status=status, reason=reason, action=action, actor=actor, details=details,
                      settings=settings)
