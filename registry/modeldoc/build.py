"""Gather everything the ModelDoc shows about one model version."""

from __future__ import annotations

import base64
import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from registry.associations import AssociationInfo, list_associations
from registry.catalog import VersionDetail, download_model_dir, show_version
from registry.deployments import DeploymentInfo, list_deployments
from registry.evaluation import plot_title
from registry.profiling import DataProfile
from registry.refs import ModelRef, parse_ref
from registry.registration import IMPORTANCE_FILE, PLOTS_DIR, PROFILE_FILE
from registry.scoring_runs import ScoringRunInfo, list_scoring_runs
from registry.settings import Settings, get_settings

class Plot(BaseModel):
    name: str
    title: str
    png_base64: str


class ModelDoc(BaseModel):
    generated_at: datetime
    model: VersionDetail
    libraries: dict[str, str]
    dataset: DataProfile | None
    feature_importance: dict[str, float]
    plots: list[Plot]
    deployments: list[DeploymentInfo]
    associations: list[AssociationInfo]
    scoring_runs: list[ScoringRunInfo]


def _libraries(detail: VersionDetail) -> dict[str, str]:
    pins = dict(line.split("==", 1) for line in detail.requirements if "==" in line)
    if detail.mlflow_version:
        pins.setdefault("mlflow", detail.mlflow_version)
    return pins


def _read_model_dir(model_dir: Path) -> tuple[DataProfile | None, dict[str, float], list[Plot]]:
    profile_path = model_dir / PROFILE_FILE
    profile = DataProfile.model_validate_json(profile_path.read_text()) if profile_path.exists() else None
    importance_path = model_dir / IMPORTANCE_FILE
    importance = json.loads(importance_path.read_text()) if importance_path.exists() else {}
    plots = [
        Plot(name=path.stem, title=plot_title(path.stem),
             png_base64=base64.b64encode(path.read_bytes()).decode())
        for path in sorted((model_dir / PLOTS_DIR).glob("*.png"))
    ]
    return profile, importance, plots


def build_modeldoc(
    ref: str | ModelRef, settings: Settings | None = None, *, model_dir: Path | None = None
) -> ModelDoc:
    """The ModelDoc of the version ``ref`` means now; ``model_dir`` saves a second download."""
    settings = settings or get_settings()
    ref = parse_ref(ref) if isinstance(ref, str) else ref
    detail = show_version(ref, settings)
    if model_dir is not None:
        profile, importance, plots = _read_model_dir(model_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="modelyard-doc-") as scratch:
            concrete = ModelRef(detail.name, detail.version)
            profile, importance, plots = _read_model_dir(
                download_model_dir(concrete, Path(scratch), settings)
            )
    return ModelDoc(
        generated_at=datetime.now(timezone.utc),
        model=detail,
        libraries=_libraries(detail),
        dataset=profile,
        feature_importance=importance,
        plots=plots,
        deployments=list_deployments(settings=settings, live=False, model_name=detail.name)[:20],
        associations=list_associations(detail.name, settings),
        scoring_runs=list_scoring_runs(detail.name, model_version=detail.version, settings=settings),
    )
