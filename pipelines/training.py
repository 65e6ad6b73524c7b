"""Train the demo models on data sets that ship with scikit-learn and register them.

Every model trained here lands in the repository with training and validation metrics,
its data profile, feature importance and evaluation plots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from registry.card import ModelCard
from registry.registration import Dataset, ModelPackage, RegisteredVersion, register_package
from registry.settings import Settings

SEED = 42


@dataclass(frozen=True)
class DemoModel:
    name: str
    dataset: str
    task: str
    build: Callable[[], object]
    description: str


def _random_forest():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, max_depth=8, random_state=SEED, n_jobs=1)


def _gradient_boosting():
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(n_estimators=150, max_depth=3, learning_rate=0.05, random_state=SEED)


DEMO_MODELS = {
    "breast_cancer_classifier": DemoModel(
        "breast_cancer_classifier", "breast_cancer", "classification", _random_forest,
        "Random forest that tells malignant (0) from benign (1) tumours from 30 cell-nucleus "
        "measurements (Wisconsin breast cancer data).",
    ),
    "diabetes_regressor": DemoModel(
        "diabetes_regressor", "diabetes", "regression", _gradient_boosting,
        "Gradient boosting that predicts disease progression one year after baseline "
        "from 10 baseline measurements (diabetes data).",
    ),
}


def load_dataset(dataset: str) -> tuple[pd.DataFrame, pd.Series]:
    from sklearn import datasets

    loader = {"breast_cancer": datasets.load_breast_cancer, "diabetes": datasets.load_diabetes}
    bunch = loader[dataset](as_frame=True)
    features = bunch.data.rename(columns=lambda column: column.replace(" ", "_"))
    return features, bunch.target.rename("target")


def split(features: pd.DataFrame, target: pd.Series, *, stratify: bool):
    from sklearn.model_selection import train_test_split

    return train_test_split(
        features, target, test_size=0.25, random_state=SEED, stratify=target if stratify else None
    )


def train_demo_model(spec: DemoModel, settings: Settings | None = None) -> RegisteredVersion:
    """Fit one demo model on a 75/25 split and register it with its validation metrics."""
    import skops.io

    features, target = load_dataset(spec.dataset)
    classification = spec.task == "classification"
    x_train, x_valid, y_train, y_valid = split(features, target, stratify=classification)
    estimator = spec.build()
    estimator.fit(x_train, y_train)
    card = ModelCard(
        flavor="sklearn",
        task=spec.task,
        feature_names=list(features.columns),
        classes=[int(label) for label in estimator.classes_] if classification else None,
        target="target",
        origin="trained",
        source=f"sklearn.datasets.load_{spec.dataset}",
        pipeline_steps=[
            f"load sklearn data set '{spec.dataset}' ({len(features)} rows, {features.shape[1]} features)",
            f"split 75/25{' stratified on target' if classification else ''} (seed {SEED})",
            f"fit {type(estimator).__name__}",
            "evaluate on the validation split; profile the training features",
        ],
    )
    package = ModelPackage(
        name=spec.name,
        native=estimator,
        card=card,
        params={"estimator": type(estimator).__name__, **estimator.get_params()},
        training=Dataset(f"{spec.dataset}-train", x_train, y_train, card.source),
        validation=Dataset(f"{spec.dataset}-validation", x_valid, y_valid, card.source),
        description=spec.description,
        # Trees trained here are ours: trust skops' flagged tree type for them.
        trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(estimator)),
    )
    return register_package(package, settings=settings)


def train_demo_models(
    names: list[str] | None = None, settings: Settings | None = None
) -> list[RegisteredVersion]:
    return [train_demo_model(DEMO_MODELS[name], settings) for name in names or list(DEMO_MODELS)]
