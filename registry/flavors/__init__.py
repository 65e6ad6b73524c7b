"""The model libraries Modelyard serves: one module each, and this registry, the only list of them.

A flavor module builds one ``Flavor`` (``registry.flavors.base``): its files, pinned libraries,
saving and loading in MLflow's format, reading and describing an external file, and its
predictor. The model card's ``flavor``, ``modelyard import``, the predictors and the ModelDoc all
read ``FLAVORS``: a new library is a new module named here. The order is the preference when an
imported MLflow model holds several flavors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry.errors import ImportModelError
from registry.flavors import lightgbm, mlflow, onnx, sklearn, xgboost
from registry.flavors.base import Flavor, Introspection, ReadOptions

FLAVORS: dict[str, Flavor] = {flavor.name: flavor for flavor in (
    sklearn.FLAVOR, xgboost.FLAVOR, lightgbm.FLAVOR, onnx.FLAVOR, mlflow.FLAVOR)}
NAMES = tuple(FLAVORS)

__all__ = ["FLAVORS", "NAMES", "Flavor", "Introspection", "ReadOptions", "detect_flavor", "flavor_named",
           "load_native", "pip_requirements", "save_native", "compiler_libraries"]


def flavor_named(name: str) -> Flavor:
    try:
        return FLAVORS[name]
    except KeyError:
        raise ValueError(f"unknown flavor {name!r}: one of {', '.join(NAMES)}") from None


def compiler_libraries(flavor: str) -> tuple[str, ...]:
    """What any compiled runtime of ``flavor`` needs installed where its predictor is unpickled."""
    return tuple(dict.fromkeys(library for compiler in flavor_named(flavor).compilers for library in compiler.libraries))


def detect_flavor(path: Path) -> str:
    """The flavor of an external model file (by its suffix) or folder."""
    for flavor in FLAVORS.values():
        if flavor.recognises(path):
            return flavor.name
    if path.is_dir():
        raise ImportModelError(f"{path} is a folder without an MLmodel file: not an MLflow model")
    kinds = [flavor.file_kind for flavor in FLAVORS.values() if flavor.file_kind]
    raise ImportModelError(f"cannot tell the flavor of {path.name}: expected {', '.join(kinds[:-1])} or {kinds[-1]}; "
                           "or name its flavor", field="flavor")


def pip_requirements(name: str) -> list[str]:
    return flavor_named(name).pip_requirements()


def save_native(name: str, native: Any, path: Path, *, signature=None, input_example=None,
                trusted_types: list[str] | None = None) -> None:
    """Write ``native`` as an MLflow model directory at ``path``, its requirements pinned."""
    flavor = flavor_named(name)
    flavor.save(native, path, requirements=flavor.pip_requirements(), signature=signature,
                input_example=input_example, trusted_types=trusted_types)


def load_native(model_dir: Path, name: str) -> Any:
    return flavor_named(name).load(Path(model_dir))
