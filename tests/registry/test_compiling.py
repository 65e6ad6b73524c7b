"""A compiled runtime serves only where it answers as the native model does, and faster."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from registry.card import ModelCard
from registry.compiling import BATCH_TIMING_ROWS, NATIVE, build_chosen, choose_runtime, compare
from registry.errors import InvalidFieldError
from registry.predictors import make_predictor


def _fitted(model, dataset):
    frame = dataset(as_frame=True).frame
    features, target = frame.drop(columns="target"), frame["target"]
    model.fit(features, target)
    classifier = hasattr(model, "classes_")
    card = ModelCard(flavor="sklearn", task="classification" if classifier else "regression",
                     feature_names=list(features.columns), classes=model.classes_.tolist() if classifier else None)
    return make_predictor(model, card), features


def _saved_with_sample(native, features, folder):
    """The model saved by MLflow with its rows as the input example, which ``parity_sample`` reads."""
    import mlflow.sklearn

    mlflow.sklearn.save_model(native.native, folder / "model", input_example=features,
                              skops_trusted_types=["sklearn.tree._tree.Tree"])
    return folder / "model"


def test_a_forest_is_served_by_onnx_runtime_with_identical_labels_and_faster():
    native, features = _fitted(RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0),
                               load_breast_cancer)
    predictor, choice = choose_runtime(native, features)
    [candidate] = choice.candidates
    assert candidate.runtime == "onnxruntime" and candidate.error is None
    assert candidate.parity.rows == len(features) and candidate.parity.labels_differing == 0
    assert candidate.parity.passed, candidate.parity
    assert choice.runtime == "onnxruntime" and predictor is not native
    assert choice.one_row_speedup > 1.0  # the gate itself requires it; the size is the benchmark's
    assert (predictor.predict(features)["prediction"] == native.predict(features)["prediction"]).all()


def test_a_batch_choice_is_timed_on_a_call_the_size_of_a_partition():
    native, features = _fitted(RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0),
                               load_breast_cancer)
    predictor, choice = choose_runtime(native, features, by="batch")
    [candidate] = choice.candidates
    assert len(features) < BATCH_TIMING_ROWS  # the kept sample alone would be a few hundred rows
    assert choice.native.batch_rows == candidate.timing.batch_rows == BATCH_TIMING_ROWS
    assert choice.native.one_row_ms is None and candidate.parity.rows == len(features)
    faster = candidate.timing.batch_ms < choice.native.batch_ms
    assert (choice.runtime == "onnxruntime") == faster and (predictor is not native) == faster


def test_a_worker_builds_the_runtime_its_driver_chose_and_keeps_native_where_it_answers_otherwise(tmp_path):
    native, features = _fitted(RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0),
                               load_breast_cancer)
    model_dir = _saved_with_sample(native, features, tmp_path)
    compiled = build_chosen(native, model_dir, "onnxruntime")
    assert compiled.runtime == "onnxruntime" and compiled is not native
    assert (compiled.predict(features)["prediction"] == native.predict(features)["prediction"]).all()
    assert build_chosen(native, model_dir, NATIVE) is native
    assert build_chosen(native, model_dir, "onnxruntime", tolerance=0.0) is native  # float32 differs a little
    with pytest.raises(InvalidFieldError, match="'lleaves' does not compile sklearn models"):
        build_chosen(native, model_dir, "lleaves")


def test_regression_values_are_compared_relative_to_their_size():
    native, features = _fitted(GradientBoostingRegressor(n_estimators=30, random_state=0), load_diabetes)
    _, choice = choose_runtime(native, features)
    [candidate] = choice.candidates
    assert candidate.parity.labels_differing == 0 and candidate.parity.max_difference < 1e-5, candidate.parity


def test_a_candidate_off_by_more_than_the_tolerance_is_refused_and_the_native_model_serves():
    native, features = _fitted(make_pipeline(StandardScaler(), LogisticRegression()), load_breast_cancer)
    predictor, choice = choose_runtime(native, features, tolerance=0.0)  # float32 probabilities differ a little
    [candidate] = choice.candidates
    assert not candidate.parity.passed and candidate.parity.max_difference > 0.0
    assert choice.runtime == NATIVE and predictor is native and choice.one_row_speedup == 1.0


def test_a_flipped_label_fails_parity_whatever_the_tolerance():
    expected = pd.DataFrame({"prediction": [0, 1, 1], "probability_0": [0.9, 0.4, 0.2],
                             "probability_1": [0.1, 0.6, 0.8]})
    flipped = expected.assign(prediction=[0, 0, 1])
    parity = compare(expected, flipped, classification=True, tolerance=1.0)
    assert parity.labels_differing == 1 and not parity.passed


class OwnTree(DecisionTreeClassifier):
    """A model class of its own: no converter knows it."""


def test_a_model_no_compiler_takes_is_served_natively_and_says_why():
    native, features = _fitted(OwnTree(max_depth=4), load_breast_cancer)
    predictor, choice = choose_runtime(native, features.head(50))
    assert choice.runtime == NATIVE and predictor is native
    [candidate] = choice.candidates
    assert candidate.error == "onnxruntime does not take this model" and candidate.parity is None


def test_native_is_honoured_and_a_bad_request_is_named():
    native, features = _fitted(RandomForestClassifier(n_estimators=5, random_state=0), load_breast_cancer)
    predictor, choice = choose_runtime(native, features, requested="native")
    assert (choice.runtime, choice.candidates, predictor) == (NATIVE, (), native)
    with pytest.raises(InvalidFieldError, match="runtime 'fast': choose auto or native"):
        choose_runtime(native, features, requested="fast")
    with pytest.raises(InvalidFieldError, match="has no rows"):
        choose_runtime(native, features.head(0))


BOOSTERS = [("xgboost", "XGBClassifier", load_breast_cancer), ("xgboost", "XGBRegressor", load_diabetes),
            ("lightgbm", "LGBMClassifier", load_breast_cancer), ("lightgbm", "LGBMRegressor", load_diabetes)]


@pytest.mark.parametrize("flavor, kind, dataset", BOOSTERS, ids=[kind for _, kind, _ in BOOSTERS])
def test_boosters_are_compiled_by_each_runtime_and_held_to_parity(flavor, kind, dataset):
    """XGBoost through onnxmltools to ONNX Runtime; LightGBM that way and by lleaves (LLVM); each
    candidate measured, the fastest passing one serves, and it pickles into a deploy's snapshot."""
    import pickle

    import lightgbm
    import xgboost

    library = xgboost if flavor == "xgboost" else lightgbm
    options = {"verbose": -1} if flavor == "lightgbm" else {}
    frame = dataset(as_frame=True).frame
    features, target = frame.drop(columns="target"), frame["target"]
    model = getattr(library, kind)(n_estimators=40, max_depth=4, **options).fit(features, target)
    classifier = kind.endswith("Classifier")
    card = ModelCard(flavor=flavor, task="classification" if classifier else "regression",
                     feature_names=list(features.columns), classes=[0, 1] if classifier else None)
    native = make_predictor(model, card)
    predictor, choice = choose_runtime(native, features)
    expected = {"onnxruntime"} if flavor == "xgboost" else {"onnxruntime", "lleaves"}
    assert {candidate.runtime for candidate in choice.candidates} == expected
    for candidate in choice.candidates:
        assert candidate.error is None and candidate.parity.passed, candidate
    assert choice.runtime in expected and predictor.runtime == choice.runtime
    served, wanted = predictor.predict(features), native.predict(features)
    if classifier:
        assert (served["prediction"] == wanted["prediction"]).all()
    restored = pickle.loads(pickle.dumps(predictor))
    pd.testing.assert_frame_equal(restored.predict(features), served)
