"""A version's logged-model files: where they live (looked up here, once) and reading them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from registry.card import CARD_FILE, ModelCard
from registry.errors import ModelNotFoundError
from registry.refs import ModelRef, parse_ref
from registry.settings import Settings
from registry.store import mlflow_client, resolve_version


def model_id_of(version) -> str:
    """MLflow leaves ``ModelVersion.model_id`` empty on some stores; the source names it too."""
    return version.model_id or version.source.removeprefix("models:/").split("/")[0]


def logged_model(client, version):
    """The logged model behind a registered version: its id and the root of its files."""
    return client.get_logged_model(model_id_of(version))


def artifact_location(client, version) -> str:
    """The root of a version's model files (a local path or an S3 URI)."""
    return logged_model(client, version).artifact_location


def _under(location: str, relative: str) -> str:
    return f"{location.rstrip('/')}/{relative}"


def artifact_text(location: str, relative: str) -> str | None:
    """A text file of a logged model, by the model's artifact location (local or S3)."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.artifacts.load_text(_under(location, relative))
    except (MlflowException, OSError):
        return None


def read_card(client, version, location: str | None = None) -> ModelCard:
    """The version's model card; pass the logged model's ``location`` when it is known already."""
    location = location or artifact_location(client, version)
    return ModelCard.model_validate(json.loads(artifact_text(location, CARD_FILE)))


def plot_names(client, version) -> list[str]:
    """The evaluation plots (``plots/*.png``) stored with a version's logged model."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from registry.registration import PLOTS_DIR

    location = artifact_location(client, version)
    try:
        listed = mlflow.artifacts.list_artifacts(artifact_uri=_under(location, PLOTS_DIR))
    except (MlflowException, OSError):
        return []
    return sorted(Path(item.path).stem for item in listed if item.path.endswith(".png"))


def plot_png(ref: str | ModelRef, plot: str, *, settings: Settings) -> bytes:
    """One evaluation plot of a version, as PNG bytes."""
    import tempfile

    import mlflow.artifacts

    from registry.registration import PLOTS_DIR

    ref = parse_ref(ref) if isinstance(ref, str) else ref
    client = mlflow_client(settings)
    version = resolve_version(ref, client)
    if plot not in plot_names(client, version):
        raise ModelNotFoundError(f"{ref} has no plot {plot!r}", field="plot")
    location = artifact_location(client, version)
    with tempfile.TemporaryDirectory(prefix="modelyard-plot-") as scratch:
        path = mlflow.artifacts.download_artifacts(artifact_uri=_under(location, f"{PLOTS_DIR}/{plot}.png"),
                                                   dst_path=scratch)
        return Path(path).read_bytes()


def input_example(ref: str | ModelRef, *, settings: Settings, rows: int = 1) -> list[dict[str, Any]] | None:
    """The first ``rows`` of a version's input example as records (what ``/predict`` takes), if it has one."""
    import tempfile

    import mlflow.artifacts
    from mlflow.models import Model

    ref = parse_ref(ref) if isinstance(ref, str) else ref
    client = mlflow_client(settings)
    location = artifact_location(client, resolve_version(ref, client))
    mlmodel = artifact_text(location, "MLmodel")
    if mlmodel is None or "saved_input_example_info" not in mlmodel:
        return None
    with tempfile.TemporaryDirectory(prefix="modelyard-example-") as scratch:
        for name in ("MLmodel", *_example_files(mlmodel)):
            mlflow.artifacts.download_artifacts(artifact_uri=_under(location, name), dst_path=scratch)
        example = Model.load(scratch).load_input_example(scratch)
    if example is None:
        return None
    return json.loads(example.head(rows).to_json(orient="records"))


def _example_files(mlmodel: str) -> list[str]:
    import yaml

    info = yaml.safe_load(mlmodel).get("saved_input_example_info") or {}
    return [info["artifact_path"]] if info.get("artifact_path") else []


def download_model_dir(ref: str | ModelRef, dst: Path, settings: Settings | None = None) -> Path:
    """Copy a version's whole model directory (local or S3 artifact root) into ``dst``."""
    import mlflow.artifacts

    ref = parse_ref(ref) if isinstance(ref, str) else ref
    client = mlflow_client(settings)
    location = artifact_location(client, resolve_version(ref, client))
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(dst)))
