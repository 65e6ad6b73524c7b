"""Saving and loading each flavor's native model in MLflow's format.

Requirements are pinned from what is installed, so registering never spends seconds guessing.
"""

from __future__ import annotations

import shutil
from importlib.metadata import version
from pathlib import Path
from typing import Any

_LIBRARIES = {
    "sklearn": ["scikit-learn", "skops"],
    "onnx": ["onnx", "onnxruntime"],
    "xgboost": ["xgboost-cpu"],
    "lightgbm": ["lightgbm"],
    "mlflow": [],
}
_COMMON = ["mlflow", "numpy", "pandas"]


def library_versions(flavor: str) -> dict[str, str]:
    return {name: version(name) for name in _COMMON + _LIBRARIES[flavor]}


def pip_requirements(flavor: str) -> list[str]:
    return [f"{name}=={pinned}" for name, pinned in library_versions(flavor).items()]


def save_native(
    flavor: str,
    native: Any,
    path: Path,
    *,
    signature=None,
    input_example=None,
    trusted_types: list[str] | None = None,
) -> None:
    """Write ``native`` as an MLflow model directory at ``path``."""
    common = dict(signature=signature, input_example=input_example)
    requirements = pip_requirements(flavor)
    if flavor == "sklearn":
        import mlflow.sklearn

        mlflow.sklearn.save_model(
            native,
            str(path),
            pip_requirements=requirements,
            serialization_format="skops",
            skops_trusted_types=trusted_types or None,
            **common,
        )
    elif flavor == "onnx":
        import mlflow.onnx

        mlflow.onnx.save_model(
            native, str(path), pip_requirements=requirements, save_as_external_data=False, **common
        )
    elif flavor == "xgboost":
        import mlflow.xgboost

        mlflow.xgboost.save_model(
            native, str(path), pip_requirements=requirements, model_format="ubj", **common
        )
    elif flavor == "lightgbm":
        import mlflow.lightgbm

        mlflow.lightgbm.save_model(native, str(path), pip_requirements=requirements, **common)
    elif flavor == "mlflow":
        _copy_mlflow_model(native, path, signature=signature, input_example=input_example)
    else:
        raise ValueError(f"unknown flavor {flavor!r}")


def _copy_mlflow_model(source: Path, path: Path, *, signature, input_example) -> None:
    """Copy an MLflow model directory as-is, adding a signature and example it may lack."""
    from mlflow.models import Model

    shutil.copytree(source, path)
    model = Model.load(str(path))
    if signature is not None and model.signature is None:
        model.signature = signature
    if input_example is not None and model.saved_input_example_info is None:
        from mlflow.models.utils import _save_example

        _save_example(model, input_example, str(path))
    model.save(str(path / "MLmodel"))


def load_native(model_dir: Path, flavor: str) -> Any:
    model_uri = str(model_dir)
    if flavor == "sklearn":
        import mlflow.sklearn

        return mlflow.sklearn.load_model(model_uri)
    if flavor == "onnx":
        import onnx
        from mlflow.models import Model

        data = Model.load(model_uri).flavors["onnx"]["data"]
        return onnx.load(str(model_dir / data))
    if flavor == "xgboost":
        import mlflow.xgboost

        return mlflow.xgboost.load_model(model_uri)
    if flavor == "lightgbm":
        import mlflow.lightgbm

        return mlflow.lightgbm.load_model(model_uri)
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(model_uri)
