"""A real ``bentoml serve`` of the breast cancer classifier on loopback, stopped by PID.

It logs requests to Parquet under its folder's ``requests`` (flushed every second) and caps bodies
at ``MAX_BODY_BYTES``."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bento_services.servers import wait_ready
from infra.processes import Process, children, launch, stop
from tests.servers import free_port

REPO = Path(__file__).parents[2]
MODEL_REF = ("breast_cancer_classifier", 1)
MAX_BODY_BYTES = 1_000_000  # small, so the limit test need not send megabytes


@dataclass
class BentoServer:
    url: str
    model_dir: Path
    request_log_dir: Path
    ready_seconds: float
    processes: list[Process]


@pytest.fixture(scope="module")
def model_dir(trained, tmp_path_factory) -> Path:
    from registry.catalog import download_model_dir

    settings, _ = trained
    name, version = MODEL_REF
    return download_model_dir(f"{name}/{version}", tmp_path_factory.mktemp("served"), settings)


@contextmanager
def serving(model_dir: Path, name: str, version: int, folder: Path, **env_extra: str):
    """``python -m bentoml serve`` of ``ModelService`` for one model directory, in its own session;
    its workers are recorded by PID too, and everything is stopped by PID at the end."""
    port = free_port()
    env = {
        **os.environ, "BENTOML_HOME": str(folder / "home"), "BENTOML_DO_NOT_TRACK": "true",
        "MODELYARD_SERVE_MODEL_DIR": str(model_dir), "MODELYARD_SERVE_MODEL_NAME": name,
        "MODELYARD_SERVE_MODEL_VERSION": str(version), "MODELYARD_HOME": str(folder / "platform"),
        "MODELYARD_REQUEST_LOG_ROOT": str(folder / "requests"), **env_extra,
    }
    command = [sys.executable, "-m", "bentoml", "serve", "bento_services.service:ModelService",
               "--working-dir", str(REPO), "--host", "127.0.0.1", "--port", str(port)]
    started = time.monotonic()
    leader = launch("bentoml", command, env=env, log=folder / "serve.log")
    processes = [leader]
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(leader, url, timeout=120.0)
        # BentoML's workers start their own sessions: only their PIDs reach them.
        processes += children(leader)
        yield BentoServer(url, model_dir, folder / "requests", time.monotonic() - started, processes)
    finally:
        stop(processes, timeout=15.0)


@pytest.fixture(scope="module")
def bento_server(model_dir, tmp_path_factory) -> BentoServer:
    """The breast cancer classifier, logging requests (flushed every second), bodies capped."""
    folder = tmp_path_factory.mktemp("bentoml")
    name, version = MODEL_REF
    with serving(model_dir, name, version, folder, MODELYARD_SERVE_MAX_BODY_BYTES=str(MAX_BODY_BYTES),
                 MODELYARD_SERVE_REQUEST_LOG_FLUSH_SECONDS="1") as server:
        yield server


@pytest.fixture(scope="module")
def rows():
    """Forty real rows of the served model's data set."""
    from pipelines.training import load_dataset

    features, _ = load_dataset("breast_cancer")
    return features.iloc[:40]


@pytest.fixture(scope="module")
def expected(bento_server, rows):
    """What the in-process predictor answers for ``rows``: every route must answer the same."""
    from registry.predictors import load_predictor

    return load_predictor(bento_server.model_dir).predict(rows)
