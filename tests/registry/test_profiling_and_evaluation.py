import numpy as np
import pandas as pd
import pytest

from registry.card import ModelCard
from registry.evaluation import classification_metrics, regression_metrics
from registry.predictors import make_predictor
from registry.profiling import profile_frame


def test_profile_describes_numeric_categorical_and_nulls():
    frame = pd.DataFrame({
        "x": [1.0, 2.0, 3.0, np.nan],
        "colour": ["red", "blue", "red", None],
        "flag": [True, False, True, True],
    })
    profile = profile_frame(frame)
    assert (profile.rows, profile.columns) == (4, 3)
    x = profile.feature("x")
    assert (x.kind, x.nulls, x.min, x.max, x.mean) == ("numeric", 1, 1.0, 3.0, 2.0)
    assert sum(x.bin_counts) == 3 and x.bin_edges[0] == 1.0 and x.bin_edges[-1] == 3.0
    colour = profile.feature("colour")
    assert (colour.kind, colour.nulls, colour.categories) == ("categorical", 1, {"red": 2, "blue": 1})
    assert profile.feature("flag").kind == "boolean"


def test_profile_of_a_constant_column_has_one_bin():
    profile = profile_frame(pd.DataFrame({"c": [5.0] * 10}))
    assert profile.feature("c").bin_counts == [10]


def test_classification_metrics_on_a_tiny_frame():
    predictions = pd.DataFrame({
        "prediction": [0, 1, 1, 0],
        "probability_0": [0.9, 0.2, 0.4, 0.6],
        "probability_1": [0.1, 0.8, 0.6, 0.4],
    })
    metrics = classification_metrics(pd.Series([0, 1, 0, 0]), predictions, [0, 1])
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["precision"] == pytest.approx(0.5)
    assert metrics["recall"] == pytest.approx(1.0)
    assert metrics["roc_auc"] == pytest.approx(1.0)
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}


def test_regression_metrics_on_a_tiny_frame():
    metrics = regression_metrics(pd.Series([1.0, 2.0, 3.0]), pd.DataFrame({"prediction": [1.0, 2.0, 5.0]}))
    assert metrics["mae"] == pytest.approx(2 / 3)
    assert metrics["rmse"] == pytest.approx(np.sqrt(4 / 3))


def test_sklearn_predictor_returns_labels_and_one_probability_column_per_class():
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(frame, ["no", "no", "yes", "yes"])
    card = ModelCard(flavor="sklearn", task="classification", feature_names=["a", "b"], classes=["no", "yes"])
    result = make_predictor(model, card).predict(frame[["b", "a"]])  # column order does not matter
    assert list(result.columns) == ["prediction", "probability_no", "probability_yes"]
    assert list(result["prediction"]) == list(model.predict(frame))
    np.testing.assert_allclose(result[["probability_no", "probability_yes"]], model.predict_proba(frame))
