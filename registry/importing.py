"""Import external models (any flavor in ``registry.flavors``) into the repository.

Everything is checked before anything is registered: the file loads, the sample fits the model,
the model scores the sample. An imported version is then registered like a trained one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from registry.card import ModelCard
from registry.errors import ImportModelError, SampleMismatchError
from registry.flavors import NAMES, Introspection, ReadOptions, detect_flavor, flavor_named
from registry.registration import Dataset, ModelPackage, RegisteredVersion, register_package
from registry.settings import Settings


def load_external(path: Path, flavor: str, *, trust_pickle: bool = False,
                  trusted_types: list[str] = ()) -> Introspection:
    """Load and describe an external model file, naming the problem when it cannot."""
    options = ReadOptions(trust_pickle=trust_pickle, trusted_types=tuple(trusted_types))
    try:
        return flavor_named(flavor).read_file(path, options)
    except ImportModelError:
        raise
    except Exception as error:
        raise _failure(path, flavor, error) from error


def _failure(path: Path, flavor: str, error: Exception) -> ImportModelError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ImportModelError(f"{path.name} is not a readable {flavor} model: {reason}")


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
    if flavor not in ("auto", *NAMES):
        raise ImportModelError(f"unknown flavor {flavor!r}: choose auto or one of {', '.join(NAMES)}")
    if target and sample is None:
        raise ImportModelError("a target column needs a sample: the target is a column of the sample", field="target")
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
