"""scikit-learn: saved with skops (no pickle in the registry); pickles imported only when trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry.errors import ImportModelError, UntrustedTypesError
from registry.flavors.base import Compiler, Flavor, Introspection, ReadOptions
from registry.flavors.onnx import ONNX_RUNTIME
from registry.predictors import Predictor

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


def save(native: Any, path: Path, *, requirements: list[str], signature=None, input_example=None,
         trusted_types: list[str] | None = None) -> None:
    import mlflow.sklearn

    mlflow.sklearn.save_model(native, str(path), pip_requirements=requirements, serialization_format="skops",
                              skops_trusted_types=trusted_types or None, signature=signature,
                              input_example=input_example)


def load(model_dir: Path) -> Any:
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(model_dir))


def read_file(path: Path, options: ReadOptions) -> Introspection:
    """A .skops file whose types are all trusted, or a pickle its owner chose to trust."""
    import skops.io

    if path.suffix.lower() in PICKLE_SUFFIXES:
        if not options.trust_pickle:
            raise ImportModelError(
                f"{path.name} is a pickle: loading it runs any code it contains. Trust pickles only if you "
                "trust its origin, or save the model with skops instead", field="trust_pickle")
        import joblib

        model = joblib.load(path)
    else:
        untrusted = skops.io.get_untrusted_types(file=path)
        refused = sorted(set(untrusted) - set(options.trusted_types))
        if refused:
            raise UntrustedTypesError(
                f"{path.name} contains types skops does not trust by default: "
                f"{', '.join(refused)}; if you trust this file, add them to the trusted types", field="trusted_types")
        model = skops.io.load(path, trusted=untrusted)
    if not hasattr(model, "predict"):
        raise ImportModelError(f"{path.name} holds a {type(model).__name__}, not a fitted model")
    return describe(model, skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def describe(model: Any, trusted_types: list[str]) -> Introspection:
    from sklearn.base import is_classifier

    classifier = is_classifier(model)
    names = getattr(model, "feature_names_in_", None)
    return Introspection(
        "sklearn", model, "classification" if classifier else "regression",
        [_plain(label) for label in model.classes_] if classifier else None,
        [str(name) for name in names] if names is not None else None,
        getattr(model, "n_features_in_", None), trusted_types,
        {"estimator": type(model).__name__, **_safe_params(model)},
    )


def _safe_params(model) -> dict[str, Any]:
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    return {key: value for key, value in params.items() if isinstance(value, (int, float, str, bool, type(None)))}


def _plain(value):
    return value.item() if hasattr(value, "item") else value


class SklearnPredictor(Predictor):
    def __init__(self, native: Any, card):
        super().__init__(native, card)
        self.predicts_in_float32 = _predicts_in_float32(native)

    def _predict(self, matrix):
        model = self.native
        if self.predicts_in_float32 and _plain_numbers(matrix):
            matrix = _rows_in_float32(matrix)
        inputs = matrix if hasattr(model, "feature_names_in_") else matrix.to_numpy()
        if self.card.task == "classification" and hasattr(model, "predict_proba"):
            probabilities = np.asarray(model.predict_proba(inputs))
            return self._labels_from(probabilities), probabilities
        return np.asarray(model.predict(inputs)), None


def _predicts_in_float32(model: Any) -> bool:
    """scikit-learn's trees and the ensembles made of them convert every input to float32 first."""
    from sklearn import ensemble, tree

    kinds = (tree.DecisionTreeClassifier, tree.DecisionTreeRegressor, ensemble.RandomForestClassifier,
             ensemble.RandomForestRegressor, ensemble.ExtraTreesClassifier, ensemble.ExtraTreesRegressor,
             ensemble.GradientBoostingClassifier, ensemble.GradientBoostingRegressor)
    return isinstance(model, kinds)


def _plain_numbers(frame: pd.DataFrame) -> bool:
    return all(isinstance(dtype, np.dtype) and dtype.kind in "fiub" for dtype in frame.dtypes)


def _rows_in_float32(frame: pd.DataFrame) -> pd.DataFrame:
    """The same values as the float32 row-major array a tree walks fastest, still named: the model
    then neither copies nor converts them, and its predictions are the ones it makes itself (a
    frame's own array is column-major, one copy per block): 1.10 -> 0.92 s for a forest on 500k rows."""
    rows = np.ascontiguousarray(frame.to_numpy(dtype=np.float32))
    return pd.DataFrame(rows, columns=frame.columns, index=frame.index, copy=False)


def to_onnx(model: Any, card) -> Predictor | None:
    """The model as an ONNX graph run by ONNX Runtime (skl2onnx converts trees, forests, gradient
    boosting and linear models); None for a model skl2onnx does not take."""
    from skl2onnx import to_onnx as convert
    from skl2onnx.common.exceptions import MissingConverter, MissingShapeCalculator

    from registry.flavors.onnx import OnnxPredictor

    classifier = card.task == "classification"
    try:
        graph = convert(model, np.zeros((1, len(card.feature_names)), dtype=np.float32),
                        options={id(model): {"zipmap": False}} if classifier else None, target_opset=17)
    except (MissingConverter, MissingShapeCalculator, NotImplementedError, RuntimeError, TypeError, ValueError):
        return None
    return OnnxPredictor(graph, card, threads=1)  # one row is answered fastest on one thread


FLAVOR = Flavor(name="sklearn", libraries=("scikit-learn", "skops"), save=save, load=load, read_file=read_file,
                describe=describe, predictor=SklearnPredictor, suffixes=(".skops", *PICKLE_SUFFIXES),
                file_kind=".skops, .pkl/.joblib", compilers=(Compiler("onnxruntime", to_onnx, ONNX_RUNTIME),))
