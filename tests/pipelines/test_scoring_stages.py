"""The pandas stage functions on tiny frames: no Dask, no MLflow."""

import numpy as np
import pandas as pd
import pytest

from pipelines.scoring.checks import Checks, FeatureCheck
from pipelines.scoring.drift import drift_report, histograms, psi
from pipelines.scoring.io import commit_output, staging_path
from pipelines.scoring.scoring import score_partition
from pipelines.scoring.validation import REASON, validate_batch
from registry.card import ModelCard
from registry.predictors import make_predictor
from registry.settings import Settings

CHECKS = Checks(features=[
    FeatureCheck(name="size", kind="numeric", min=0.0, max=10.0),
    FeatureCheck(name="colour", kind="categorical", categories=["blue", "red"]),
])


def test_valid_rows_pass_typed_and_invalid_rows_are_rejected_with_every_reason():
    frame = pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6],
        "size": ["1.5", "abc", None, "50", "3", "2"],
        "colour": ["red", "blue", "red", "red", "green", None],
    })
    outcome = validate_batch(frame, CHECKS)
    assert outcome.valid["id"].tolist() == [1]
    assert outcome.valid["size"].dtype == "float64"
    reasons = dict(zip(outcome.rejected["id"], outcome.rejected[REASON]))
    assert reasons == {
        2: "size: 'abc' is not a number",
        3: "size: is null",
        4: "size: outside [0, 10]",
        5: "colour: not a known category",
        6: "colour: is null",
    }
    assert outcome.rejected["size"].tolist()[:1] == ["abc"]  # rejects keep the raw values
    assert len(outcome.valid) + len(outcome.rejected) == len(frame)
    assert set(outcome.seconds) == {"coerce_types", "run_suite"}  # the run's stage seconds (ScoringResult.stages)
    expectations = {(f.column, f.expectation) for f in outcome.failures}
    assert ("size", "expect_column_values_to_be_between") in expectations


def test_nullable_features_and_extra_user_expectations():
    checks = Checks(
        features=[FeatureCheck(name="size", kind="numeric", nullable=True)],
        extra=[{"type": "expect_column_values_to_be_between", "kwargs": {"column": "size", "max_value": 5}}],
    )
    outcome = validate_batch(pd.DataFrame({"size": [None, 1.0, 9.0]}), checks)
    assert outcome.valid["size"].isna().tolist() == [True, False]
    assert outcome.rejected[REASON].tolist() == ["size: above 5"]


def test_clean_partition_has_no_rejects():
    outcome = validate_batch(pd.DataFrame({"size": [1.0, 2.0], "colour": ["red", "blue"]}), CHECKS)
    assert len(outcome.valid) == 2 and outcome.rejected.empty and outcome.failures == []


def test_score_partition_passes_keys_through_and_stamps_the_run():
    from sklearn.linear_model import LogisticRegression

    features = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    model = LogisticRegression().fit(features, [0, 0, 1, 1])
    predictor = make_predictor(model, ModelCard(flavor="sklearn", task="classification",
                                                feature_names=["a"], classes=[0, 1]))
    frame = features.assign(id=[10, 11, 12, 13]).iloc[[3, 0, 2]]  # any index, any order
    scored = score_partition(frame, predictor, ["id"], {"model_name": "m", "model_version": 2, "run_id": "r"})
    assert scored.columns.tolist() == ["id", "prediction", "probability_0", "probability_1",
                                       "model_name", "model_version", "run_id"]
    assert scored["id"].tolist() == [13, 10, 12] and scored["prediction"].tolist() == [1, 0, 1]
    assert score_partition(frame.iloc[0:0], predictor, ["id"], {"run_id": "r"}).empty


def test_psi_is_zero_for_the_training_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    training = rng.normal(size=10_000)
    edges = list(np.quantile(training, np.linspace(0, 1, 11)))
    counts = np.histogram(training, bins=edges)[0].tolist()
    check = Checks(features=[FeatureCheck(name="x", kind="numeric", bin_edges=edges, bin_counts=counts)])
    same = histograms(pd.DataFrame({"x": rng.normal(size=5_000)}), check)
    shifted = histograms(pd.DataFrame({"x": rng.normal(loc=1.5, size=5_000)}), check)
    assert drift_report(same, check)["x"] < 0.02
    assert drift_report(shifted, check)["x"] > 0.25
    assert psi([10, 10], [10, 10]) == pytest.approx(0.0)


def test_commit_replaces_the_previous_output_whole(tmp_path):
    settings = Settings(home=tmp_path / "home")
    output = str(tmp_path / "out")
    for run, rows in (("r1", 3), ("r2", 1)):
        staging = staging_path(output, run)
        (tmp_path / staging.rsplit("/", 1)[1]).mkdir()
        pd.DataFrame({"x": range(rows)}).to_parquet(f"{staging}/part-00000.parquet")
        commit_output(staging, output, {"run_id": run}, settings)
    assert len(pd.read_parquet(output)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "out"]  # nothing staged left
    assert (tmp_path / "out" / "_SUCCESS").exists()


@pytest.mark.parametrize("named", [True, False])
def test_a_forest_scores_exactly_as_its_own_predict_proba(named):
    """The predictor hands a forest float32 rows (as the forest converts them itself): the same
    answers on a frame of one block per column, with integers and missing values."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(7)
    train = pd.DataFrame(rng.normal(size=(400, 4)), columns=["a", "b", "c", "d"])
    labels = (train["a"] + train["b"] > 0).astype(int)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(train if named else train.to_numpy(), labels)
    rows = pd.DataFrame({"a": rng.normal(size=300), "b": rng.integers(-3, 3, size=300),
                         "c": rng.normal(size=300), "d": rng.normal(size=300)}, index=range(1000, 1300))
    rows.loc[1005, "c"] = np.nan
    for column in rows:  # one block per column, as validation hands them over
        rows[column] = rows[column].copy()
    card = ModelCard(flavor="sklearn", task="classification", feature_names=list(train.columns), classes=[0, 1])
    predicted = make_predictor(model, card).predict(rows)
    native = model.predict_proba(rows if named else rows.to_numpy())
    assert list(predicted.index) == list(rows.index)
    np.testing.assert_array_equal(predicted[["probability_0", "probability_1"]].to_numpy(), native)
    assert predicted["prediction"].tolist() == model.classes_[native.argmax(axis=1)].tolist()
