"""Import of every flavor from files made by their own libraries, and every way it can fail."""

import shutil

import numpy as np
import pytest

from registry.catalog import download_model_dir, list_models, show_version
from registry.errors import (
    ImportModelError, InvalidReferenceError, ModelExistsError, SampleMismatchError, UntrustedTypesError,
)
from registry.importing import import_model
from registry.predictors import load_predictor
from registry.store import mlflow_client

TREE = "sklearn.tree._tree.Tree"


@pytest.mark.parametrize(
    "file, flavor, task, options",
    [
        ("logistic.skops", "sklearn", "classification", {}),
        ("logistic.joblib", "sklearn", "classification", {"trust_pickle": True}),
        ("forest.skops", "sklearn", "classification", {"trusted_types": [TREE]}),
        ("xgb.json", "xgboost", "classification", {}),
        ("xgb.ubj", "xgboost", "classification", {}),
        ("lgb.txt", "lightgbm", "regression", {}),
        ("logistic.onnx", "onnx", "classification", {}),
        ("mlflow_logistic", "sklearn", "classification", {}),
    ],
)
def test_each_flavor_imports_with_metrics_and_serves_like_the_original(
    home, external, tmp_path, file, flavor, task, options
):
    result = import_model(external.folder / file, "imported", sample=external.sample_csv,
                          target="label", **options)
    assert (result.flavor, result.task, result.version) == (flavor, task, 1)
    key = "validation_accuracy" if task == "classification" else "validation_rmse"
    assert key in result.metrics
    detail = show_version("imported", home)
    assert detail.origin == "imported" and detail.source.endswith(file)
    assert [event.action for event in detail.events] == ["imported"]
    predictor = load_predictor(download_model_dir("imported/1", tmp_path, home))
    predictions = predictor.predict(external.features)
    expected = external.expected[file]
    np.testing.assert_allclose(
        predictions[expected.columns].to_numpy(dtype=float), expected.to_numpy(dtype=float), rtol=1e-4, atol=1e-5
    )


def test_auto_detects_flavor_and_parquet_sample_gives_names_to_an_unnamed_model(home, external):
    result = import_model(external.folder / "ridge_unnamed.skops", "ridge", sample=external.sample_parquet,
                          target="label")
    assert result.flavor == "sklearn" and result.task == "regression"
    assert [column["name"] for column in show_version("ridge", home).inputs] == list(external.features.columns)


def test_import_without_a_sample_uses_the_names_the_model_carries(home, external):
    result = import_model(external.folder / "xgb.json", "nosample")
    detail = show_version("nosample", home)
    assert result.metrics == {} and detail.validation_metrics == {}
    assert [column["name"] for column in detail.inputs] == list(external.features.columns)


def test_new_version_flag_adds_a_version_to_an_existing_model(home, external):
    import_model(external.folder / "xgb.json", "wine", sample=external.sample_csv, target="label")
    second = import_model(external.folder / "xgb.ubj", "wine", sample=external.sample_csv, target="label",
                          new_version=True)
    assert second.version == 2


def _nothing_registered(settings):
    client = mlflow_client(settings)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], run_view_type=1  # active only
    )
    artifacts = settings.home / "artifacts" / "models"
    leftover = [p for p in artifacts.rglob("*") if p.is_file()] if artifacts.exists() else []
    return list_models(settings) == [] and runs == [] and leftover == []


@pytest.mark.parametrize(
    "file, options, error, message",
    [
        ("corrupt.onnx", {}, ImportModelError, "corrupt.onnx is not a readable onnx model"),
        ("corrupt.skops", {}, ImportModelError, "corrupt.skops is not a readable sklearn model"),
        ("corrupt.json", {}, ImportModelError, "corrupt.json is not a readable xgboost model"),
        ("corrupt.txt", {}, ImportModelError, "corrupt.txt is not a readable lightgbm model"),
        ("model.h5", {}, ImportModelError, "cannot tell the flavor of model.h5"),
        ("missing.onnx", {}, ImportModelError, "does not exist"),
        ("logistic.joblib", {}, ImportModelError, "is a pickle: loading it runs any code"),
        ("forest.skops", {}, UntrustedTypesError, f"{TREE}; if you trust this file, add them to the trusted types"),
        ("logistic.skops", {"flavor": "keras"}, ImportModelError, "unknown flavor 'keras'"),
        ("logistic.skops", {"flavor": "onnx"}, ImportModelError, "not a readable onnx model"),
        ("logistic.skops", {"target": "nope"}, SampleMismatchError, "target column 'nope' is not in sample"),
    ],
)
def test_bad_files_fail_with_the_problem_named_and_nothing_registered(
    home, external, file, options, error, message
):
    options = {"sample": external.sample_csv, "target": "label", **options}
    with pytest.raises(error, match=message):
        import_model(external.folder / file, "bad", **options)
    assert _nothing_registered(home)


def test_sample_with_missing_column_is_refused(home, external, tmp_path):
    sample = tmp_path / "short.csv"
    external.features.drop(columns=["alcohol"]).to_csv(sample, index=False)
    with pytest.raises(SampleMismatchError, match="lacks columns the model needs: alcohol"):
        import_model(external.folder / "logistic.skops", "bad", sample=sample)
    assert _nothing_registered(home)


def test_sample_with_extra_column_is_refused_with_a_hint(home, external):
    with pytest.raises(SampleMismatchError, match=r"does not take: label \(name it as the target"):
        import_model(external.folder / "logistic.skops", "bad", sample=external.sample_csv)
    assert _nothing_registered(home)


def test_sample_with_wrong_feature_count_is_refused(home, external, tmp_path):
    sample = tmp_path / "narrow.csv"
    external.features.iloc[:, :5].to_csv(sample, index=False)
    with pytest.raises(SampleMismatchError, match="has 5 feature columns; the model takes 13"):
        import_model(external.folder / "logistic.onnx", "bad", sample=sample)
    assert _nothing_registered(home)


def test_sample_with_text_in_a_numeric_column_is_refused(home, external, tmp_path):
    sample = tmp_path / "text.csv"
    external.features.assign(alcohol="lots").to_csv(sample, index=False)
    with pytest.raises(SampleMismatchError, match="could not score sample text.csv"):
        import_model(external.folder / "logistic.skops", "bad", sample=sample)
    assert _nothing_registered(home)


def test_target_values_outside_the_model_classes_are_refused(home, external, tmp_path):
    sample = tmp_path / "labels.csv"
    external.features.assign(label=np.where(external.target == 0, "red", "white")).to_csv(sample, index=False)
    with pytest.raises(SampleMismatchError, match="not among the model's classes"):
        import_model(external.folder / "logistic.skops", "bad", sample=sample, target="label")


def test_unreadable_and_empty_samples_are_refused(home, external, tmp_path):
    (tmp_path / "empty.csv").write_text("a,b\n")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 broken")
    with pytest.raises(ImportModelError, match="sample empty.csv has no rows"):
        import_model(external.folder / "xgb.json", "bad", sample=tmp_path / "empty.csv")
    with pytest.raises(ImportModelError, match="sample broken.parquet is not readable"):
        import_model(external.folder / "xgb.json", "bad", sample=tmp_path / "broken.parquet")
    with pytest.raises(ImportModelError, match="must be a .csv or .parquet"):
        import_model(external.folder / "xgb.json", "bad", sample=external.folder / "lgb.txt")
    assert _nothing_registered(home)


def test_name_clash_is_refused_and_the_existing_model_is_untouched(home, external):
    import_model(external.folder / "xgb.json", "wine", sample=external.sample_csv, target="label")
    with pytest.raises(ModelExistsError, match="model 'wine' already exists") as clash:
        import_model(external.folder / "lgb.txt", "wine", sample=external.sample_csv, target="label")
    assert "--" not in str(clash.value) and "new version" in str(clash.value)  # no CLI flag: the page asks too
    (model,) = list_models(home)
    assert (model.name, model.latest_version, model.flavor) == ("wine", 1, "xgboost")


def test_bad_model_name_is_refused(home, external):
    with pytest.raises(InvalidReferenceError, match="invalid model name 'bad name'"):
        import_model(external.folder / "xgb.json", "bad name")


def test_folder_without_mlmodel_is_refused(home, external, tmp_path):
    shutil.copytree(external.folder / "mlflow_logistic", tmp_path / "copy")
    (tmp_path / "copy" / "MLmodel").unlink()
    with pytest.raises(ImportModelError, match="without an MLmodel file"):
        import_model(tmp_path / "copy", "bad")


def test_failure_after_mlflow_writes_undoes_everything(home, external, monkeypatch):
    """The last step (the event) fails: run, logged model, artifacts and version all go."""
    import registry.registration

    def broken_event(*args, **kwargs):
        raise RuntimeError("metadata database went away")

    monkeypatch.setattr(registry.registration, "record_event", broken_event)
    with pytest.raises(RuntimeError, match="went away"):
        import_model(external.folder / "xgb.json", "half", sample=external.sample_csv, target="label")
    assert _nothing_registered(home)
    client = mlflow_client(home)
    experiment = client.get_experiment_by_name(home.experiment)
    assert client.search_logged_models([experiment.experiment_id]) == []
