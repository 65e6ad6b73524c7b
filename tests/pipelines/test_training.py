"""The training pipeline registers every model with metrics, profile, importance and plots."""

import json

import pandas as pd
import pytest

from registry.catalog import download_model_dir, show_version
from registry.compiling import parity_sample
from registry.flavors import pip_requirements
from registry.predictors import load_predictor

CLASSIFICATION = {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}
REGRESSION = {"rmse", "mae", "r2"}


def test_both_demo_models_are_registered_with_training_and_validation_metrics(trained):
    settings, versions = trained
    by_name = {version.name: version for version in versions}
    assert set(by_name) == {"breast_cancer_classifier", "diabetes_regressor"}
    classifier = show_version("breast_cancer_classifier/1", settings)
    assert set(classifier.training_metrics) == CLASSIFICATION
    assert set(classifier.validation_metrics) == CLASSIFICATION
    assert classifier.validation_metrics["roc_auc"] > 0.95
    regressor = show_version("diabetes_regressor/1", settings)
    assert set(regressor.training_metrics) == set(regressor.validation_metrics) == REGRESSION
    assert regressor.validation_metrics["r2"] > 0.3


def test_registered_version_has_params_signature_example_lineage_and_event(trained):
    settings, _ = trained
    detail = show_version("breast_cancer_classifier/1", settings)
    assert detail.params["n_estimators"] == "100" and detail.params["estimator"] == "RandomForestClassifier"
    assert len(detail.inputs) == 30 and all(column["type"] == "double" for column in detail.inputs)
    assert [column["name"] for column in detail.outputs] == ["prediction", "probability_0", "probability_1"]
    assert {dataset.context for dataset in detail.datasets} == {"training", "validation"}
    assert all(len(dataset.digest) > 0 for dataset in detail.datasets)
    assert detail.requirements == pip_requirements("sklearn")  # pinned, not guessed
    [registered] = [event for event in detail.events if event.action == "registered"]  # others may download it
    assert registered.details["run_id"] == detail.run_id


def test_model_directory_carries_profile_importance_plots_and_loads_back(trained, tmp_path):
    settings, _ = trained
    model_dir = download_model_dir("breast_cancer_classifier/1", tmp_path, settings)
    profile = json.loads((model_dir / "modelyard/profile.json").read_text())
    assert profile["rows"] == 426 and profile["columns"] == 30
    assert profile["features"][0]["bin_counts"]
    importance = json.loads((model_dir / "modelyard/feature_importance.json").read_text())
    assert len(importance) == 30 and sum(importance.values()) == pytest.approx(1.0)
    plots = sorted(path.name for path in (model_dir / "modelyard/plots").iterdir())
    assert plots == ["confusion_matrix.png", "feature_importance.png", "roc_curve.png"]
    assert all((model_dir / "modelyard/plots" / name).read_bytes()[:4] == b"\x89PNG" for name in plots)
    example = pd.read_json(model_dir / "input_example.json", orient="split")
    predictions = load_predictor(model_dir).predict(example)
    assert set(predictions["prediction"]) <= {0, 1}
    sample = parity_sample(model_dir)  # the validation rows a compiled runtime is checked on, and the example
    assert len(sample) == 143 + len(example) and list(sample.columns) == load_predictor(model_dir).card.feature_names
    (model_dir / "modelyard/parity_sample.parquet").unlink()  # as a version registered before it was kept
    assert parity_sample(model_dir).to_numpy() == pytest.approx(example.to_numpy())


def test_regressor_gets_residual_plot(trained, tmp_path):
    settings, _ = trained
    model_dir = download_model_dir("diabetes_regressor/1", tmp_path, settings)
    assert (model_dir / "modelyard/plots/residuals.png").exists()


def test_mlflow_itself_can_load_and_predict_the_registered_model(trained):
    import mlflow.pyfunc

    from registry.store import mlflow_client

    settings, _ = trained
    mlflow_client(settings)
    model = mlflow.pyfunc.load_model("models:/diabetes_regressor/1")
    example = model.input_example
    assert len(model.predict(example)) == len(example)


def test_retraining_adds_a_version(home):
    from pipelines.training import DEMO_MODELS, train_demo_model

    first = train_demo_model(DEMO_MODELS["diabetes_regressor"])
    second = train_demo_model(DEMO_MODELS["diabetes_regressor"])
    assert (first.version, second.version) == (1, 2)
    assert second.metrics == pytest.approx(first.metrics)  # seeded: same data, same model
