"""A real ``bentoml serve`` of the breast cancer classifier on loopback, stopped by PID."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from registry.processes import Process, is_running, launch, log_tail, stop
from tests.servers import free_port

REPO = Path(__file__).parents[2]
MODEL_REF = ("breast_cancer_classifier", 1)


@dataclass
class BentoServer:
    url: str
    model_dir: Path
    ready_seconds: float
    processes: list[Process]


@pytest.fixture(scope="module")
def model_dir(trained, tmp_path_factory) -> Path:
    from registry.catalog import download_model_dir

    settings, _ = trained
    name, version = MODEL_REF
    return download_model_dir(f"{name}/{version}", tmp_path_factory.mktemp("served"), settings)


@pytest.fixture(scope="module")
def bento_server(model_dir, tmp_path_factory) -> BentoServer:
    """``python -m bentoml serve`` in its own session; its workers are recorded by PID too."""
    folder = tmp_path_factory.mktemp("bentoml")
    port = free_port()
    name, version = MODEL_REF
    env = {
        **os.environ, "BENTOML_HOME": str(folder / "home"), "BENTOML_DO_NOT_TRACK": "true",
        "MODELYARD_SERVE_MODEL_DIR": str(model_dir), "MODELYARD_SERVE_MODEL_NAME": name,
        "MODELYARD_SERVE_MODEL_VERSION": str(version),
    }
    command = [sys.executable, "-m", "bentoml", "serve", "bento_services.service:ModelService",
               "--working-dir", str(REPO), "--host", "127.0.0.1", "--port", str(port)]
    started = time.monotonic()
    leader = launch("bentoml", command, env=env, log=folder / "serve.log")
    processes = [leader]
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(leader, url)
        # BentoML's workers start their own sessions: only their PIDs reach them.
        processes += _children(leader)
        yield BentoServer(url, model_dir, time.monotonic() - started, processes)
    finally:
        stop(processes, timeout=15.0)


def _wait_ready(leader: Process, url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(leader):
            raise RuntimeError(f"bentoml serve exited early:\n{log_tail(leader)}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"bentoml serve not ready after {timeout}s:\n{log_tail(leader)}")


def _children(leader: Process) -> list[Process]:
    """Direct children of ``leader`` with their kernel start times, read from /proc."""
    children = []
    for task in Path(f"/proc/{leader.pid}/task").iterdir():
        for pid in (task / "children").read_text().split():
            raw = Path(f"/proc/{pid}/stat").read_text()
            start_ticks = int(raw[raw.rindex(")") + 2:].split()[19])
            children.append(Process(f"bentoml-worker-{pid}", int(pid), start_ticks, leader.log))
    return children
