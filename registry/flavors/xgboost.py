"""XGBoost: a Booster, or a fitted scikit-learn wrapper scored through its booster; saved as UBJSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from registry.errors import ImportModelError
from registry.flavors.base import Compiler, Flavor, Introspection, ReadOptions
from registry.flavors.onnx import ONNX_RUNTIME
from registry.predictors import Predictor, probabilities_per_class


def booster_of(native: Any):
    """The Booster itself, whether ``native`` is one or a fitted ``XGBClassifier``/``XGBRegressor``."""
    import xgboost

    return native if isinstance(native, xgboost.Booster) else native.get_booster()


def save(native: Any, path: Path, *, requirements: list[str], signature=None, input_example=None,
         trusted_types=None) -> None:
    import mlflow.xgboost

    mlflow.xgboost.save_model(native, str(path), pip_requirements=requirements, model_format="ubj",
                              signature=signature, input_example=input_example)


def load(model_dir: Path) -> Any:
    import mlflow.xgboost

    return mlflow.xgboost.load_model(str(model_dir))


def read_file(path: Path, options: ReadOptions) -> Introspection:
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(str(path))
    return describe(booster, [])


def describe(native: Any, trusted_types: list[str]) -> Introspection:
    booster = booster_of(native)
    config = json.loads(booster.save_config())["learner"]
    objective = config["objective"]["name"]
    num_class = int(config["learner_model_param"].get("num_class", "0") or 0)
    if objective.startswith("binary:"):
        task, classes = "classification", [0, 1]
    elif objective == "multi:softprob":
        task, classes = "classification", list(range(num_class))
    elif objective.startswith("multi:"):
        raise ImportModelError(
            f"XGBoost objective {objective!r} gives no probabilities; save it with multi:softprob"
        )
    else:
        task, classes = "regression", None
    return Introspection(
        "xgboost", booster, task, classes, booster.feature_names, booster.num_features(), [],
        {"objective": objective, "num_boosted_rounds": booster.num_boosted_rounds()},
    )


class XGBoostPredictor(Predictor):
    def _predict(self, matrix):
        import xgboost

        booster = booster_of(self.native)
        names = booster.feature_names
        raw = booster.predict(xgboost.DMatrix(matrix if names else matrix.to_numpy()))
        if self.card.task == "classification":
            probabilities = probabilities_per_class(raw)
            return self._labels_from(probabilities), probabilities
        return raw, None


def to_onnx(native: Any, card) -> Predictor | None:
    """The booster as an ONNX graph run by ONNX Runtime (onnxmltools converts XGBoost's trees)."""
    from onnxmltools import convert_xgboost

    from registry.flavors.onnx import ONNXMLTOOLS_OPSET, OnnxPredictor, float_input

    booster = booster_of(native)
    if booster.feature_names:  # the converter reads features as f0, f1...: a copy that names them so
        booster = booster.copy()
        booster.feature_names = None
    graph = convert_xgboost(booster, initial_types=float_input(card), target_opset=ONNXMLTOOLS_OPSET)
    return OnnxPredictor(graph, card, threads=1)


FLAVOR = Flavor(name="xgboost", libraries=("xgboost-cpu",), save=save, load=load, read_file=read_file,
                describe=describe, predictor=XGBoostPredictor, suffixes=(".ubj", ".json"),
                file_kind=".json/.ubj (XGBoost)", compilers=(Compiler("onnxruntime", to_onnx, ONNX_RUNTIME),))
