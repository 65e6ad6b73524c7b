"""LightGBM: a Booster, or a fitted scikit-learn wrapper scored through its booster; saved as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from registry.flavors.base import Flavor, Introspection, ReadOptions
from registry.predictors import Predictor, probabilities_per_class


def booster_of(native: Any):
    """The Booster itself, whether ``native`` is one or a fitted ``LGBMClassifier``/``LGBMRegressor``."""
    return native.booster_ if hasattr(native, "booster_") else native


def save(native: Any, path: Path, *, requirements: list[str], signature=None, input_example=None,
         trusted_types=None) -> None:
    import mlflow.lightgbm

    mlflow.lightgbm.save_model(native, str(path), pip_requirements=requirements, signature=signature,
                               input_example=input_example)


def load(model_dir: Path) -> Any:
    import mlflow.lightgbm

    return mlflow.lightgbm.load_model(str(model_dir))


def read_file(path: Path, options: ReadOptions) -> Introspection:
    import lightgbm

    return describe(lightgbm.Booster(model_file=str(path)), [])


def describe(native: Any, trusted_types: list[str]) -> Introspection:
    booster = booster_of(native)
    objective = booster.dump_model(num_iteration=0)["objective"].split()[0]
    if objective in ("binary", "cross_entropy"):
        task, classes = "classification", [0, 1]
    elif objective in ("multiclass", "multiclassova"):
        task, classes = "classification", list(range(booster.dump_model()["num_class"]))
    else:
        task, classes = "regression", None
    names = booster.feature_name()
    generic = all(name == f"Column_{i}" for i, name in enumerate(names))
    return Introspection(
        "lightgbm", booster, task, classes, None if generic else names, booster.num_feature(), [],
        {"objective": objective, "num_trees": booster.num_trees()},
    )


class LightGBMPredictor(Predictor):
    def _predict(self, matrix):
        raw = np.asarray(booster_of(self.native).predict(matrix))
        if self.card.task == "classification":
            probabilities = probabilities_per_class(raw)
            return self._labels_from(probabilities), probabilities
        return raw, None


FLAVOR = Flavor(name="lightgbm", libraries=("lightgbm",), save=save, load=load, read_file=read_file,
                describe=describe, predictor=LightGBMPredictor, suffixes=(".txt",), file_kind=".txt (LightGBM)")
