"""The deployments' watchdog as a platform service: one process (``bento_services.watchdog``)
that checks every running deployment every few seconds and repairs what died.

It runs on every machine that hosts model servers, whatever else the settings replace; under
compose, the serving worker's ``reconcile_deployments`` DAG is the safety net beside it.
"""

from __future__ import annotations

import sys

from registry import processes
from registry.processes import Process
from registry.settings import Settings
from stack import service

SERVICE = "watchdog"
PROCESS = "deployment-watchdog"


def replaced_by(settings: Settings) -> str | None:
    return None


def start(settings: Settings, env: dict[str, str]) -> list[Process]:
    command = [sys.executable, "-m", "bento_services.watchdog"]
    launched = [service.launch(settings, SERVICE, PROCESS, command, env)]
    service.wait_until(lambda: "watching the deployments" in processes.log_tail(launched[0]), launched,
                       "the deployment watchdog", timeout=60.0)
    return launched


def health(settings: Settings) -> dict[str, bool]:
    launched, _ = service.recorded(settings, SERVICE)
    return {PROCESS: service.all_running(launched)}


def urls(settings: Settings) -> dict[str, str]:
    return {}
