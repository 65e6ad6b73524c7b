"""LightGBM: a Booster, or a fitted scikit-learn wrapper scored through its booster; saved as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from registry.flavors.base import Compiler, Flavor, Introspection, ReadOptions
from registry.flavors.onnx import ONNX_RUNTIME
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


def to_onnx(native: Any, card) -> Predictor | None:
    """The booster as an ONNX graph run by ONNX Runtime (onnxmltools converts LightGBM's trees)."""
    from onnxmltools import convert_lightgbm

    from registry.flavors.onnx import ONNXMLTOOLS_OPSET, OnnxPredictor, float_input

    graph = convert_lightgbm(booster_of(native), initial_types=float_input(card), target_opset=ONNXMLTOOLS_OPSET,
                             zipmap=False)
    return OnnxPredictor(graph, card, threads=1)


def to_lleaves(native: Any, card) -> Predictor | None:
    """The booster compiled to machine code by lleaves (LLVM, no C compiler needed)."""
    return LleavesPredictor(booster_of(native).model_to_string(), card)


class LleavesPredictor(Predictor):
    """A LightGBM model compiled by lleaves. It pickles as the model's text and the compiled object
    code, so a server that unpickles it (a deploy's snapshot) loads the code instead of compiling."""

    takes_arrays = True
    runtime = "lleaves"

    def __init__(self, model_text: str, card, compiled: bytes | None = None):
        super().__init__(model_text, card)
        self._compiled, self._model = compiled, None
        self._load()

    def _load(self) -> None:
        import tempfile

        import lleaves

        with tempfile.TemporaryDirectory(prefix="lleaves.") as folder:
            model_file, cache = Path(folder) / "model.txt", Path(folder) / "model.o"
            model_file.write_text(self.native)
            if self._compiled is not None:
                cache.write_bytes(self._compiled)
            model = lleaves.Model(model_file=str(model_file))
            model.compile(cache=str(cache))  # compiles, or loads the object code given
            self._compiled, self._model = cache.read_bytes(), model

    def __getstate__(self) -> dict[str, Any]:
        return {"native": self.native, "card": self.card, "compiled": self._compiled}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["native"], state["card"], state["compiled"])

    def _predict(self, matrix):
        values = matrix if isinstance(matrix, np.ndarray) else matrix.to_numpy()
        raw = self._model.predict(np.ascontiguousarray(values, dtype=np.float64), n_jobs=1)
        if self.card.task == "classification":
            probabilities = probabilities_per_class(np.asarray(raw))
            return self._labels_from(probabilities), probabilities
        return np.asarray(raw), None


FLAVOR = Flavor(name="lightgbm", libraries=("lightgbm",), save=save, load=load, read_file=read_file,
                describe=describe, predictor=LightGBMPredictor, suffixes=(".txt",), file_kind=".txt (LightGBM)",
                compilers=(Compiler("onnxruntime", to_onnx, ONNX_RUNTIME), Compiler("lleaves", to_lleaves, ("lleaves", "llvmlite"))))
