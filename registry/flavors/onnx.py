"""ONNX: a graph run by onnxruntime; skl2onnx's label and probabilities outputs are read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry.flavors.base import Flavor, Introspection, ReadOptions
from registry.predictors import Predictor


def save(native: Any, path: Path, *, requirements: list[str], signature=None, input_example=None,
         trusted_types=None) -> None:
    import mlflow.onnx

    mlflow.onnx.save_model(native, str(path), pip_requirements=requirements, save_as_external_data=False,
                           signature=signature, input_example=input_example)


def load(model_dir: Path) -> Any:
    import onnx
    from mlflow.models import Model

    data = Model.load(str(model_dir)).flavors["onnx"]["data"]
    return onnx.load(str(Path(model_dir) / data))


def read_file(path: Path, options: ReadOptions) -> Introspection:
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    return describe(model, [])


def describe(model: Any, trusted_types: list[str]) -> Introspection:
    from onnx import helper

    classes = None
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name in ("classlabels_int64s", "classlabels_strings"):
                values = helper.get_attribute_value(attribute)
                classes = [v.decode() if isinstance(v, bytes) else int(v) for v in values]
    inputs = model.graph.input
    if len(inputs) == 1:
        dims = inputs[0].type.tensor_type.shape.dim
        n_features = dims[1].dim_value if len(dims) == 2 and dims[1].dim_value else None
        names = None
    else:
        names, n_features = [spec.name for spec in inputs], len(inputs)
    return Introspection(
        "onnx", model, "classification" if classes else "regression", classes, names, n_features,
        [], {"producer": model.producer_name, "opset": model.opset_import[0].version},
    )


ONNX_RUNTIME = ("onnx", "onnxruntime")  # an ONNX predictor's libraries: the graph, and what runs it
ONNXMLTOOLS_OPSET = 15  # the highest onnxmltools 1.16's tree converters write


def float_input(card) -> list:
    """onnxmltools' description of the model's input: one float32 matrix of the card's features."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    return [("input", FloatTensorType([None, len(card.feature_names)]))]


class OnnxPredictor(Predictor):
    """One onnxruntime session per predictor, on the CPU. It pickles as its graph (a deploy's
    snapshot of a compiled model); the session is made again where it is unpickled."""

    def __init__(self, native: Any, card, *, threads: int | None = None):
        super().__init__(native, card)
        self.threads = threads
        self.session = _session(native, threads)
        inputs = self.session.get_inputs()
        self._single = (inputs[0].name, _onnx_dtype(inputs[0].type)) if len(inputs) == 1 else None
        self.takes_arrays = self._single is not None

    def __getstate__(self) -> dict[str, Any]:
        return {"native": self.native, "card": self.card, "threads": self.threads, "runtime": self.runtime}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["native"], state["card"], threads=state["threads"])
        self.runtime = state.get("runtime", self.runtime)

    def _feeds(self, matrix: pd.DataFrame | np.ndarray) -> dict[str, np.ndarray]:
        if self._single is not None:
            name, dtype = self._single
            if isinstance(matrix, np.ndarray):
                return {name: matrix.astype(dtype, copy=False)}
            return {name: matrix.to_numpy(dtype=dtype)}
        inputs = self.session.get_inputs()
        return {
            spec.name: matrix[spec.name].to_numpy(dtype=_onnx_dtype(spec.type)).reshape(-1, 1)
            for spec in inputs
        }

    def _predict(self, matrix):
        outputs = self.session.run(None, self._feeds(matrix))
        if self.card.task == "regression":
            return np.asarray(outputs[0]).reshape(len(matrix), -1)[:, 0], None
        probabilities = _onnx_probabilities(outputs[1:], self.card.classes) if len(outputs) > 1 else None
        if probabilities is None:
            return np.asarray(outputs[0]).reshape(-1), None
        return self._labels_from(probabilities), probabilities


def _session(graph: Any, threads: int | None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _onnx_dtype(type_name: str) -> str:
    return {"tensor(double)": "float64", "tensor(int64)": "int64"}.get(type_name, "float32")


def _onnx_probabilities(outputs: list, classes: list | None) -> np.ndarray | None:
    output = outputs[0]
    if isinstance(output, list):  # skl2onnx ZipMap: one {class: probability} per row
        return np.array([[row[label] for label in classes] for row in output], dtype="float64")
    output = np.asarray(output, dtype="float64")
    return output if output.ndim == 2 else None


FLAVOR = Flavor(name="onnx", libraries=("onnx", "onnxruntime"), save=save, load=load, read_file=read_file,
                describe=describe, predictor=OnnxPredictor, suffixes=(".onnx",), file_kind=".onnx")
