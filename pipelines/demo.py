"""The main job on embedded defaults, as ``make demo`` runs it.

Train the demo models, export an "external" XGBoost model to a file and import it the way a
user would, point ``champion`` aliases, then write a ModelDoc and a download archive.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from registry.catalog import ModelSummary, list_models, set_alias
from registry.download import download_model
from registry.importing import import_model
from registry.modeldoc import build_modeldoc, write_modeldoc
from registry.registration import RegisteredVersion
from registry.settings import Settings, get_settings

EXTERNAL_MODEL = "wine_xgboost"


class DemoResult(BaseModel):
    trained: list[RegisteredVersion]
    imported: RegisteredVersion
    models: list[ModelSummary]
    modeldoc: Path
    download: Path


def export_external_model(folder: Path) -> tuple[Path, Path]:
    """An XGBoost model trained outside Modelyard, saved as JSON, with a labelled sample."""
    import xgboost
    from sklearn.datasets import load_wine

    folder.mkdir(parents=True, exist_ok=True)
    features, target = load_wine(return_X_y=True, as_frame=True)
    features.columns = [column.replace("/", "_") for column in features.columns]
    model = xgboost.XGBClassifier(n_estimators=40, max_depth=3, random_state=0)
    model.fit(features, target)
    model_path = folder / "wine_xgboost.json"
    model.save_model(model_path)
    sample_path = folder / "wine_sample.csv"
    features.assign(cultivar=target).sample(frac=0.5, random_state=1).to_csv(sample_path, index=False)
    return model_path, sample_path


def run_demo(
    settings: Settings | None = None, progress: Callable[[str], None] = lambda _: None
) -> DemoResult:
    from pipelines.training import train_demo_models

    settings = settings or get_settings()
    out = settings.home / "demo"
    progress("training and registering the demo models")
    trained = train_demo_models(settings=settings)
    for version in trained:
        set_alias(version.ref, "champion", settings)
    progress("exporting an external XGBoost model and importing it")
    model_path, sample_path = export_external_model(out / "external")
    imported = import_model(
        model_path, EXTERNAL_MODEL, sample=sample_path, target="cultivar", new_version=True,
        description="XGBoost wine cultivar classifier trained outside Modelyard and imported.",
        settings=settings,
    )
    first = trained[0]
    progress(f"writing the ModelDoc and a download of {first.name}@champion")
    modeldoc = out / f"modeldoc-{first.name}.html"
    write_modeldoc(build_modeldoc(f"{first.name}@champion", settings), "html", modeldoc)
    download = download_model(f"{first.name}@champion", out / f"{first.name}.zip", settings).path
    return DemoResult(
        trained=trained, imported=imported, models=list_models(settings),
        modeldoc=modeldoc, download=download,
    )
