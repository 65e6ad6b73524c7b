"""A deployed version's loaded model, pickled where it was built, so a server starts in seconds.

Loading an MLflow scikit-learn model in a fresh process imports MLflow and skops, and skops
imports every scikit-learn module to list the types it trusts: most of a server's start
(measured in benchmarks/README.md). The build step loads the version anyway (for the parity
reference), so it pickles the loaded ``ServedModel`` into the version's folder; every replica,
and every replacement of one the watchdog starts, unpickles it instead.

Trust: the file is written by the platform, from a model that was loaded through MLflow's own
loader with its trust checks, into the platform's own deployment folder, read by the same
Python environment. It names the MLflow ``model_uuid`` it was made from: a server whose model
in the Bento store is another one (a version registered again under the same number) ignores it,
as it ignores a missing or unreadable file, and loads the MLflow model as before.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

SNAPSHOT_FILE = "served_model.pkl"
logger = logging.getLogger(__name__)


def snapshot_in(folder: Path) -> Path | None:
    """The served model written in ``folder`` (a version's folder, or a bento's model beside its
    MLflow model, ``bento_build.attach_served_model``), if there is one."""
    path = Path(folder) / SNAPSHOT_FILE
    return path if path.exists() else None


def model_uuid(model_dir: Path) -> str | None:
    """The MLflow model's ``model_uuid`` from its MLmodel file (None if it has none)."""
    import yaml

    try:
        return yaml.safe_load((Path(model_dir) / "MLmodel").read_text()).get("model_uuid")
    except (OSError, yaml.YAMLError, AttributeError):
        return None


def write_snapshot(served: Any, model_dir: Path, folder: Path) -> Path | None:
    """Pickle ``served`` (a ``ServedModel``: this module needs nothing of it) into ``folder``
    atomically (a server never reads half a file); None, with the reason logged, for a model that
    does not pickle (its servers load it through MLflow)."""
    path = folder / SNAPSHOT_FILE
    staging = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        with staging.open("wb") as handle:
            pickle.dump({"model_uuid": model_uuid(model_dir), "served": served}, handle,
                        protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        staging.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        logger.warning("no snapshot of %s (%s: %s): its servers load it through MLflow", model_dir,
                       type(error).__name__, error)
        return None
    staging.replace(path)
    return path


def read_snapshot(path: Path, model_dir: Path) -> Any | None:
    """The pickled model if it was made from the model in ``model_dir``; else None, with the reason logged."""
    try:
        with Path(path).open("rb") as handle:
            saved = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as error:
        logger.warning("not using the snapshot %s (%s: %s); loading the MLflow model", path, type(error).__name__, error)
        return None
    if saved.get("model_uuid") is None or saved["model_uuid"] != model_uuid(model_dir):
        logger.warning("the snapshot %s was made from another model than %s; loading the MLflow model", path, model_dir)
        return None
    return saved["served"]
