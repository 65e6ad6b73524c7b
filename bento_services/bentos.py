"""The Bento store of a Modelyard home: building a version's bento, finding it, pruning old ones.

BentoML fixes its home when it is first imported, so everything here runs ``bentoml`` in child
processes with ``BENTOML_HOME`` set (and the project's own ``uv`` first on PATH, which
``bentoml build`` runs).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from infra.processes import project_path
from registry.metadata.db import session_scope
from registry.metadata.tables import Deployment
from registry.settings import Settings

REPO = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT = 300
logger = logging.getLogger(__name__)


def bentoml_home(settings: Settings) -> Path:
    return settings.home / "bentoml"


def bentoml_env(settings: Settings) -> dict[str, str]:
    """For every bentoml subprocess: the deployment home's store, and the project's ``uv`` first
    on PATH (``bentoml build`` runs it; without one it tries to pip-install one into the venv)."""
    return {**os.environ, "BENTOML_HOME": str(bentoml_home(settings)), "BENTOML_DO_NOT_TRACK": "true",
            "PATH": project_path()}


def build_bento(model_dir: Path, name: str, version: int, settings: Settings) -> str:
    """Import the version into the Bento store and build a bento tagged ``<name>:v<version>-<millis>``
    (``bento_services.bento_build``, in its own process because BentoML fixes its home at import)."""
    command = [sys.executable, "-m", "bento_services.bento_build", "--model-dir", str(model_dir),
               "--name", name, "--version", str(version)]
    done = subprocess.run(command, cwd=REPO, env=bentoml_env(settings), capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT)
    tags = [line.removeprefix("__tag__:") for line in done.stdout.splitlines() if line.startswith("__tag__:")]
    if done.returncode != 0 or not tags:
        raise RuntimeError(f"bentoml build exited {done.returncode}:\n{(done.stdout + done.stderr)[-1500:]}")
    return tags[-1]


def bento_dir(tag: str, settings: Settings) -> Path:
    name, version = tag.split(":")
    return bentoml_home(settings) / "bentos" / name / version


def prune_bentos(name: str, settings: Settings) -> list[str]:
    """Delete the model's bentos beyond the newest ``serve_keep_bentos`` (never one a running
    deployment serves) with ``bentoml delete``; returns the deleted tags. A rollback to a
    version whose bento is gone builds it again."""
    folder = bentoml_home(settings) / "bentos" / name.lower()
    if not folder.is_dir():
        return []
    with session_scope(settings) as session:
        serving = set(session.scalars(select(Deployment.bento_tag).where(Deployment.status == "running")))
    versions = sorted((path for path in folder.iterdir() if path.is_dir() and not path.is_symlink()),
                      key=lambda path: path.stat().st_mtime, reverse=True)
    doomed = [f"{name.lower()}:{path.name}" for path in versions[settings.serve_keep_bentos:]]
    doomed = [tag for tag in doomed if tag not in serving]
    return doomed if delete_bentos(doomed, settings) else []


def delete_bentos(tags: list[str], settings: Settings) -> bool:
    """``bentoml delete`` the tags (none: nothing to do); a failure is logged, not raised."""
    if not tags:
        return True
    done = subprocess.run([sys.executable, "-m", "bentoml", "delete", *tags, "--yes"], env=bentoml_env(settings),
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        logger.warning("could not delete bentos %s: %s", tags, (done.stdout + done.stderr)[-500:])
    return done.returncode == 0
