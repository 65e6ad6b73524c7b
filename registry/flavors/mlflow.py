"""Any other MLflow model: copied as it is and scored through its pyfunc (predictions only).

An imported MLflow model that holds a flavor named in ``registry.flavors`` is loaded as that
flavor instead, so it gets probabilities and Modelyard's own predictor.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry.flavors.base import Flavor, Introspection, ReadOptions
from registry.predictors import Predictor


def is_model_folder(path: Path) -> bool:
    return (path / "MLmodel").is_file()


def save(source: Path, path: Path, *, requirements: list[str], signature=None, input_example=None,
         trusted_types=None) -> None:
    """Copy an MLflow model directory as-is, adding a signature and example it may lack (its own
    requirements stand)."""
    from mlflow.models import Model

    shutil.copytree(source, path)
    model = Model.load(str(path))
    if signature is not None and model.signature is None:
        model.signature = signature
    if input_example is not None and model.saved_input_example_info is None:
        from mlflow.models.utils import _save_example

        _save_example(model, input_example, str(path))
    model.save(str(path / "MLmodel"))


def load(model_dir: Path) -> Any:
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(model_dir))


def read_file(path: Path, options: ReadOptions) -> Introspection:
    """Known flavors inside an MLflow model are loaded natively (the first one named in the
    registry's order); anything else as pyfunc."""
    from mlflow.models import Model

    from registry.flavors import FLAVORS

    meta = Model.load(str(path))
    for flavor in FLAVORS.values():
        if flavor.describe is not None and flavor.name in meta.flavors:
            introspection = flavor.describe(flavor.load(path), list(options.trusted_types))
            if introspection.feature_names is None and meta.signature is not None:
                introspection.feature_names = meta.signature.inputs.input_names()
            return introspection
    names = meta.signature.inputs.input_names() if meta.signature is not None else None
    return Introspection(
        "mlflow", path, "regression", None, names, len(names) if names else None, [],
        {"flavors": ",".join(meta.flavors)},
    )


class PyfuncPredictor(Predictor):
    def _predict(self, matrix):
        raw = self.native.predict(matrix)
        if isinstance(raw, pd.DataFrame):
            raw = raw.iloc[:, 0]
        return np.asarray(raw).reshape(len(matrix), -1)[:, 0], None


FLAVOR = Flavor(name="mlflow", libraries=(), save=save, load=load, read_file=read_file, describe=None,
                predictor=PyfuncPredictor, file_kind="an MLflow model folder", is_model_folder=is_model_folder)
