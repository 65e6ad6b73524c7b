"""Import external models (scikit-learn, ONNX, XGBoost, LightGBM, MLflow) into the repository.

Everything is checked before anything is registered: the file loads, the sample fits the model,
the model scores the sample. An imported version is then registered like a trained one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from registry.card import Flavor, ModelCard, Task
from registry.errors import ImportModelError, SampleMismatchError, UntrustedTypesError
from registry.registration import Dataset, ModelPackage, RegisteredVersion, register_package
from registry.settings import Settings

FLAVORS = ("sklearn", "onnx", "xgboost", "lightgbm", "mlflow")
_SUFFIXES = {
    ".skops": "sklearn", ".pkl": "sklearn", ".pickle": "sklearn", ".joblib": "sklearn",
    ".onnx": "onnx", ".ubj": "xgboost", ".json": "xgboost", ".txt": "lightgbm",
}
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


@dataclass
class Introspection:
    """What a loaded model says about itself."""

    flavor: Flavor
    native: Any
    task: Task
    classes: list[Any] | None
    feature_names: list[str] | None
    n_features: int | None
    trusted_types: list[str]
    params: dict[str, Any]


def detect_flavor(path: Path) -> Flavor:
    if path.is_dir():
        if (path / "MLmodel").is_file():
            return "mlflow"
        raise ImportModelError(f"{path} is a folder without an MLmodel file: not an MLflow model")
    flavor = _SUFFIXES.get(path.suffix.lower())
    if flavor is None:
        raise ImportModelError(
            f"cannot tell the flavor of {path.name}: expected .skops, .pkl/.joblib, .onnx, "
            ".json/.ubj (XGBoost), .txt (LightGBM) or an MLflow model folder; or name its flavor", field="flavor")
    return flavor


def _failure(path: Path, flavor: str, error: Exception) -> ImportModelError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ImportModelError(f"{path.name} is not a readable {flavor} model: {reason}")


def _load_sklearn(path: Path, trust_pickle: bool, trusted: list[str]) -> tuple[Any, list[str]]:
    import skops.io

    if path.suffix.lower() in _PICKLE_SUFFIXES:
        if not trust_pickle:
            raise ImportModelError(
                f"{path.name} is a pickle: loading it runs any code it contains. Trust pickles only if you "
                "trust its origin, or save the model with skops instead", field="trust_pickle")
        import joblib

        model = joblib.load(path)
    else:
        untrusted = skops.io.get_untrusted_types(file=path)
        refused = sorted(set(untrusted) - set(trusted))
        if refused:
            raise UntrustedTypesError(
                f"{path.name} contains types skops does not trust by default: "
                f"{', '.join(refused)}; if you trust this file, add them to the trusted types", field="trusted_types")
        model = skops.io.load(path, trusted=untrusted)
    if not hasattr(model, "predict"):
        raise ImportModelError(f"{path.name} holds a {type(model).__name__}, not a fitted model")
    return model, skops.io.get_untrusted_types(data=skops.io.dumps(model))


def _introspect_sklearn(model, trusted: list[str]) -> Introspection:
    from sklearn.base import is_classifier

    classifier = is_classifier(model)
    names = getattr(model, "feature_names_in_", None)
    return Introspection(
        "sklearn", model, "classification" if classifier else "regression",
        [_plain(label) for label in model.classes_] if classifier else None,
        [str(name) for name in names] if names is not None else None,
        getattr(model, "n_features_in_", None), trusted,
        {"estimator": type(model).__name__, **_safe_params(model)},
    )


def _safe_params(model) -> dict[str, Any]:
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    return {key: value for key, value in params.items() if isinstance(value, (int, float, str, bool, type(None)))}


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _introspect_xgboost(booster) -> Introspection:
    import json

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


def _introspect_lightgbm(booster) -> Introspection:
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


def _introspect_onnx(model) -> Introspection:
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


def _introspect_mlflow(path: Path, trusted: list[str]) -> Introspection:
    """Known flavors inside an MLflow model are loaded natively; anything else as pyfunc."""
    from mlflow.models import Model

    from registry.flavors import load_native

    meta = Model.load(str(path))
    for flavor in ("sklearn", "xgboost", "lightgbm", "onnx"):
        if flavor in meta.flavors:
            native = load_native(path, flavor)
            introspection = _introspect(flavor, native, trusted)
            if introspection.feature_names is None and meta.signature is not None:
                introspection.feature_names = meta.signature.inputs.input_names()
            return introspection
    names = meta.signature.inputs.input_names() if meta.signature is not None else None
    return Introspection(
        "mlflow", path, "regression", None, names, len(names) if names else None, [],
        {"flavors": ",".join(meta.flavors)},
    )


def _introspect(flavor: str, native, trusted: list[str]) -> Introspection:
    if flavor == "sklearn":
        return _introspect_sklearn(native, trusted)
    if flavor == "xgboost":
        import xgboost

        return _introspect_xgboost(native if isinstance(native, xgboost.Booster) else native.get_booster())
    if flavor == "lightgbm":
        return _introspect_lightgbm(native.booster_ if hasattr(native, "booster_") else native)
    return _introspect_onnx(native)


def load_external(
    path: Path, flavor: Flavor, *, trust_pickle: bool = False, trusted_types: list[str] = ()
) -> Introspection:
    """Load and describe an external model file, naming the problem when it cannot."""
    trusted = list(trusted_types)
    try:
        if flavor == "sklearn":
            model, trusted = _load_sklearn(path, trust_pickle, trusted)
            return _introspect_sklearn(model, trusted)
        if flavor == "mlflow":
            return _introspect_mlflow(path, trusted)
        if flavor == "xgboost":
            import xgboost

            booster = xgboost.Booster()
            booster.load_model(str(path))
            return _introspect_xgboost(booster)
        if flavor == "lightgbm":
            import lightgbm

            return _introspect_lightgbm(lightgbm.Booster(model_file=str(path)))
        import onnx

        model = onnx.load(str(path))
        onnx.checker.check_model(model)
        return _introspect_onnx(model)
    except ImportModelError:
        raise
    except Exception as error:
        raise _failure(path, flavor, error) from error


def read_sample(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ImportModelError(f"sample file {path} does not exist")
    try:
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path)
        elif path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            raise ImportModelError(f"sample {path.name} must be a .csv or .parquet file")
    except ImportModelError:
        raise
    except Exception as error:
        raise ImportModelError(f"sample {path.name} is not readable: {error}") from error
    if frame.empty:
        raise ImportModelError(f"sample {path.name} has no rows")
    return frame


def fit_sample(
    model: Introspection, sample: pd.DataFrame, target: str | None, sample_name: str
) -> tuple[list[str], pd.DataFrame, pd.Series | None]:
    """The model's feature names, the sample's features and target; or what does not fit."""
    if target is not None and target not in sample.columns:
        raise SampleMismatchError(f"target column {target!r} is not in sample {sample_name}")
    features = sample.drop(columns=[target]) if target else sample
    labels = sample[target] if target else None
    if model.feature_names is not None:
        missing = [name for name in model.feature_names if name not in features.columns]
        if missing:
            raise SampleMismatchError(
                f"sample {sample_name} lacks columns the model needs: {', '.join(missing)}"
            )
        extra = [name for name in features.columns if name not in model.feature_names]
        if extra:
            raise SampleMismatchError(
                f"sample {sample_name} has columns the model does not take: {', '.join(map(str, extra))}"
                + ("" if target else " (name it as the target if one of them is the label)"),
                field="target" if not target else "sample")
        names = list(model.feature_names)
    else:
        if model.n_features is not None and features.shape[1] != model.n_features:
            raise SampleMismatchError(
                f"sample {sample_name} has {features.shape[1]} feature columns; the model takes "
                f"{model.n_features}"
            )
        names = [str(column) for column in features.columns]
        features.columns = names
    if labels is not None and model.classes is not None:
        unknown = sorted(set(labels.dropna().unique()) - set(model.classes), key=str)
        if unknown:
            raise SampleMismatchError(
                f"target column {target!r} has values that are not among the model's classes "
                f"{model.classes}: {', '.join(map(str, unknown[:5]))}"
            )
    return names, features[names], labels


def import_model(
    path: str | Path,
    name: str,
    *,
    flavor: str = "auto",
    sample: str | Path | None = None,
    target: str | None = None,
    trust_pickle: bool = False,
    trusted_types: list[str] = (),
    new_version: bool = False,
    description: str | None = None,
    settings: Settings | None = None,
) -> RegisteredVersion:
    """Register an external model file as a version of ``name``, or fail with nothing written."""
    from registry.predictors import make_predictor
    from registry.refs import check_model_name

    check_model_name(name)
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise ImportModelError(f"model file {path} does not exist")
    if flavor not in ("auto", *FLAVORS):
        raise ImportModelError(f"unknown flavor {flavor!r}: choose auto or one of {', '.join(FLAVORS)}")
    if target and sample is None:
        raise ImportModelError("--target needs --sample: the target is a column of the sample")
    chosen = detect_flavor(path) if flavor == "auto" else flavor
    model = load_external(path, chosen, trust_pickle=trust_pickle, trusted_types=trusted_types)
    features = labels = None
    names = model.feature_names
    if sample is not None:
        sample_path = Path(sample).expanduser().resolve()
        names, features, labels = fit_sample(model, read_sample(sample_path), target, sample_path.name)
    if not names:
        raise ImportModelError(
            f"{path.name} carries no feature names: give a sample with one column per feature", field="sample")
    card = ModelCard(
        flavor=model.flavor, task=model.task, feature_names=names, classes=model.classes,
        target=target, origin="imported", source=str(path),
        pipeline_steps=[f"imported {chosen} model from {path}"]
        + ([f"sample {Path(sample).name}: {len(features)} rows"] if sample is not None else [])
        + ([f"evaluated against target column {target!r}"] if target else []),
    )
    if features is not None:
        try:
            make_predictor(model.native, card).predict(features.head(50))
        except Exception as error:
            raise SampleMismatchError(f"the model could not score sample {Path(sample).name}: {error}") from error
    data = Dataset(f"{name}-import-sample", features, labels, str(sample)) if features is not None else None
    package = ModelPackage(
        name=name, native=model.native, card=card,
        params={"imported_from": str(path), "flavor": chosen, **model.params},
        validation=data, description=description, trusted_types=model.trusted_types,
    )
    return register_package(package, new_model=not new_version, settings=settings)
