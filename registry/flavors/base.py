"""What a flavor is: one model library, everything Modelyard does that depends on it.

A flavor module (``registry/flavors/<name>.py``) builds one ``Flavor`` and ``registry.flavors``
names it; nothing else lists the libraries. Its library is imported inside its functions, so
naming the flavors costs no import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.card import ModelCard
    from registry.predictors import Predictor

COMMON_LIBRARIES = ("mlflow", "numpy", "pandas")  # every model's requirements, whatever its flavor


@dataclass
class Introspection:
    """What a loaded model says about itself."""

    flavor: str
    native: Any
    task: str
    classes: list[Any] | None
    feature_names: list[str] | None
    n_features: int | None
    trusted_types: list[str]
    params: dict[str, Any]


@dataclass(frozen=True)
class ReadOptions:
    """How far to trust an external file (only scikit-learn's formats can run code)."""

    trust_pickle: bool = False
    trusted_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Compiler:
    """A faster runtime for some of a flavor's models. ``compile(native, card)`` returns a predictor
    that runs the model there, or None for a model it does not take; whether it is kept is decided
    by measuring it against the native one (``registry.compiling``)."""

    runtime: str
    compile: Callable[[Any, ModelCard], Predictor | None]
    libraries: tuple[str, ...] = ()  # what its predictor needs where it is unpickled (a bento's server)


@dataclass(frozen=True)
class Flavor:
    """One model library: how its models are saved, loaded, imported, described and scored.

    ``save(native, path, requirements, signature, input_example)`` writes an MLflow model
    directory; ``load(model_dir)`` reads the native model back; ``read_file(path, options)``
    loads and describes an external file; ``describe(native, trusted_types)`` describes a native
    model (one found inside an imported MLflow model); ``predictor`` scores it."""

    name: str
    libraries: tuple[str, ...]  # pinned in each saved model's requirements, beside COMMON_LIBRARIES
    save: Callable[..., None]
    load: Callable[[Path], Any]
    read_file: Callable[[Path, ReadOptions], Introspection]
    describe: Callable[[Any, list[str]], Introspection] | None
    predictor: type[Predictor]
    suffixes: tuple[str, ...] = ()  # files ``modelyard import`` recognises as this flavor
    file_kind: str = ""  # how the import error names its files when the flavor cannot be told
    is_model_folder: Callable[[Path], bool] = field(default=lambda path: False)
    compilers: tuple[Compiler, ...] = ()  # faster runtimes to try, each gated by parity

    def library_versions(self) -> dict[str, str]:
        return {name: version(name) for name in COMMON_LIBRARIES + self.libraries}

    def pip_requirements(self) -> list[str]:
        """Pinned from what is installed, so registering never spends seconds guessing."""
        return [f"{name}=={pinned}" for name, pinned in self.library_versions().items()]

    def recognises(self, path: Path) -> bool:
        return self.is_model_folder(path) if path.is_dir() else path.suffix.lower() in self.suffixes
