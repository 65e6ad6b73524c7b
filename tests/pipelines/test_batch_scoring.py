"""Batch scoring end to end on a real distributed cluster (scheduler + two worker processes)."""

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from pipelines.scoring import (
    DataValidationError, InputError, ScoringRequest, log_to_mlflow, resolve_model, score_batch,
)
from pipelines.training import load_dataset
from registry.errors import ModelNotFoundError
from registry.metadata.db import session_scope
from registry.metadata.tables import ScoringRun

MODEL = "breast_cancer_classifier/1"


@pytest.fixture(scope="module")
def settings(scoring_home, dask_cluster):
    return scoring_home.model_copy(update={"dask_scheduler": dask_cluster})


@pytest.fixture(scope="module")
def customers():
    features, _ = load_dataset("breast_cancer")
    frame = pd.concat([features] * 4, ignore_index=True)
    frame.insert(0, "customer_id", np.arange(len(frame)))
    return frame


def _write_parts(frame, folder, parts=3):
    folder.mkdir(parents=True)
    bounds = np.linspace(0, len(frame), parts + 1).astype(int)
    for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        frame.iloc[start:stop].to_parquet(folder / f"part-{index}.parquet")
    return str(folder)


def _stored_run(settings, run_id):
    with session_scope(settings) as session:
        return session.scalars(select(ScoringRun).where(ScoringRun.id == run_id)).one()


def test_clean_input_is_scored_whole_with_keys_predictions_and_a_recorded_run(settings, customers, tmp_path):
    source = _write_parts(customers, tmp_path / "in")
    result = score_batch(ScoringRequest(model_ref=MODEL, input_path=source, output_path=str(tmp_path / "out"),
                                        range_tolerance=None), settings=settings)
    assert (result.rows_in, result.rows_scored, result.rows_rejected) == (len(customers), len(customers), 0)
    output = pd.read_parquet(tmp_path / "out").sort_values("customer_id")
    assert output["customer_id"].tolist() == customers["customer_id"].tolist()
    assert {"prediction", "probability_0", "probability_1", "model_name", "model_version", "run_id",
            "scored_at"} <= set(output.columns)
    assert set(output["model_version"]) == {1} and set(output["run_id"]) == {result.run_id}
    assert sum(result.prediction_summary["class_counts"].values()) == len(customers)
    assert set(result.drift) == set(customers.columns) - {"customer_id"}
    assert list(result.stages.driver) == [
        "resolve_model", "record_started", "model_facts", "choose_runtime", "load_batch", "discard_staging",
        "open_cluster",
        "map_partitions", "close_cluster", "commit_output", "record_finished"]
    assert set(result.stages.partitions) == {"validate_batch", "coerce_types", "run_suite", "load_predictor",
                                             "score_partition", "write_part", "histograms", "summarise_predictions"}
    assert min([*result.stages.driver.values(), *result.stages.partitions.values()]) >= 0
    choice = result.runtime_choice  # chosen once by the driver, timed on a partition-sized call
    assert choice.by == "batch" and [candidate.runtime for candidate in choice.candidates] == ["onnxruntime"]
    assert choice.candidates[0].parity.passed and choice.runtime in {"native", "onnxruntime"}, choice.summary
    assert result.runtime == choice.runtime  # every partition, on both workers, scored by that one runtime
    again = score_batch(ScoringRequest(model_ref=MODEL, input_path=source, output_path=str(tmp_path / "again"),
                                       range_tolerance=None), settings=settings)
    assert again.runtime_choice == choice and again.stages.driver["choose_runtime"] == 0.0  # not timed twice
    stored = _stored_run(settings, result.run_id)
    assert (stored.status, stored.rows_in, stored.rows_scored, stored.rows_rejected) == (
        "succeeded", len(customers), len(customers), 0)
    mlflow_run = log_to_mlflow(result, settings)
    assert _stored_run(settings, result.run_id).mlflow_run_id == mlflow_run


def test_quarantine_scores_valid_rows_and_writes_rejects_with_reasons(settings, customers, tmp_path):
    dirty = customers.copy()
    dirty.loc[3, "mean_radius"] = np.nan
    dirty.loc[10, "mean_area"] = 1e6
    source = _write_parts(dirty, tmp_path / "in")
    result = score_batch(ScoringRequest(model_ref=MODEL, input_path=source, output_path=str(tmp_path / "out"),
                                        policy="quarantine", range_tolerance=1.0), settings=settings)
    assert result.rows_rejected == 2 and result.rows_in == result.rows_scored + result.rows_rejected
    rejects = pd.read_parquet(tmp_path / "out" / "_rejects").set_index("customer_id")
    assert rejects.loc[3, "reject_reason"] == "mean_radius: is null"
    assert rejects.loc[10, "reject_reason"].startswith("mean_area: outside [")
    assert len(pd.read_parquet(tmp_path / "out")) == result.rows_scored
    assert not result.validation.success


def test_fail_policy_names_the_expectations_and_writes_nothing(settings, customers, tmp_path):
    dirty = customers.copy()
    dirty.loc[5, "worst_texture"] = -100.0
    source = _write_parts(dirty, tmp_path / "in")
    request = ScoringRequest(model_ref=MODEL, input_path=source, output_path=str(tmp_path / "out"),
                             run_id="fail-policy-run")
    with pytest.raises(DataValidationError, match="worst_texture: expect_column_values_to_be_between"):
        score_batch(request, settings=settings)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    assert _stored_run(settings, "fail-policy-run").status == "failed"


def test_csv_with_text_in_a_numeric_column_is_quarantined_row_by_row(settings, customers, tmp_path):
    frame = customers.head(200).astype({"mean_texture": "object"})
    frame.loc[7, "mean_texture"] = "twelve"
    frame.to_csv(tmp_path / "in.csv", index=False)
    result = score_batch(ScoringRequest(model_ref=MODEL, input_path=str(tmp_path / "in.csv"),
                                        output_path=str(tmp_path / "out"), policy="quarantine",
                                        range_tolerance=None), settings=settings)
    rejects = pd.read_parquet(tmp_path / "out" / "_rejects")
    assert rejects["reject_reason"].tolist() == ["mean_texture: 'twelve' is not a number"]
    assert (result.rows_scored, result.rows_rejected) == (199, 1)


def test_rerunning_a_run_id_replaces_its_output(settings, customers, tmp_path):
    source = _write_parts(customers, tmp_path / "in")
    request = ScoringRequest(model_ref=MODEL, input_path=source, output_path=str(tmp_path / "out"),
                             run_id="same-run", range_tolerance=None)
    score_batch(request, settings=settings)
    score_batch(request, settings=settings)
    assert len(pd.read_parquet(tmp_path / "out")) == len(customers)
    with session_scope(settings) as session:
        assert len(session.scalars(select(ScoringRun).where(ScoringRun.id == "same-run")).all()) == 1


@pytest.mark.parametrize(
    "mutate, error, message",
    [
        (lambda frame: frame.drop(columns=["mean_radius", "worst_area"]), DataValidationError,
         "lacks columns the model needs: mean_radius, worst_area"),
        (lambda frame: frame.iloc[0:0], InputError, "has no rows"),
    ],
)
def test_schema_problems_fail_before_scoring(settings, customers, tmp_path, mutate, error, message):
    source = _write_parts(mutate(customers), tmp_path / "in", parts=1)
    with pytest.raises(error, match=message):
        score_batch(ScoringRequest(model_ref=MODEL, input_path=source, output_path=str(tmp_path / "out"),
                                   policy="quarantine"), settings=settings)
    assert not (tmp_path / "out").exists()


def test_corrupt_missing_and_unknown_inputs_are_named(settings, tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    with pytest.raises(InputError, match="bad.parquet is not readable"):
        score_batch(ScoringRequest(model_ref=MODEL, input_path=str(tmp_path / "bad.parquet"),
                                   output_path=str(tmp_path / "out")), settings=settings)
    with pytest.raises(InputError, match="does not exist"):
        score_batch(ScoringRequest(model_ref=MODEL, input_path=str(tmp_path / "nope.parquet"),
                                   output_path=str(tmp_path / "out")), settings=settings)
    with pytest.raises(ModelNotFoundError, match="model 'unknown_model' is not registered"):
        score_batch(ScoringRequest(model_ref="unknown_model@champion", input_path=str(tmp_path),
                                   output_path=str(tmp_path / "out")), settings=settings)
    assert not (tmp_path / "out").exists()


def test_alias_is_pinned_to_one_version_per_run(settings):
    from registry.catalog import set_alias

    set_alias("diabetes_regressor/1", "batch", settings)
    resolved = resolve_model("diabetes_regressor@batch", settings)
    assert (resolved.name, resolved.version, resolved.model_uri) == (
        "diabetes_regressor", 1, "models:/diabetes_regressor/1")


def test_regression_model_and_scoring_runs_in_the_modeldoc(settings, tmp_path):
    from registry.modeldoc import build_modeldoc

    features, _ = load_dataset("diabetes")
    features.to_parquet(tmp_path / "in.parquet")
    result = score_batch(ScoringRequest(model_ref="diabetes_regressor/1", input_path=str(tmp_path / "in.parquet"),
                                        output_path=str(tmp_path / "out"), policy="quarantine"), settings=settings)
    assert result.prediction_summary["count"] == result.rows_scored
    assert 0 < result.prediction_summary["mean"] < 400
    doc = build_modeldoc("diabetes_regressor/1", settings)
    assert result.run_id in [run.id for run in doc.scoring_runs]


@pytest.mark.parametrize("attached_to", ["diabetes_regressor", "diabetes_regressor@expected", "diabetes_regressor/1"])
def test_expectations_attached_to_the_model_apply_to_every_run(settings, tmp_path, attached_to):
    from registry.catalog import set_alias
    from registry.expectations import attach_expectation, remove_expectation

    features, _ = load_dataset("diabetes")
    features.to_parquet(tmp_path / "in.parquet")
    set_alias("diabetes_regressor/1", "expected", settings)
    attached = attach_expectation(attached_to, "expect_column_values_to_be_between",
                                  {"column": "bmi", "max_value": 0.1}, settings)
    try:
        result = score_batch(ScoringRequest(model_ref="diabetes_regressor/1", input_path=str(tmp_path / "in.parquet"),
                                            output_path=str(tmp_path / "out"), policy="quarantine",
                                            range_tolerance=None), settings=settings)
    finally:
        remove_expectation(attached.id, settings)
    expected = int((features["bmi"] > 0.1).sum())
    assert expected > 0 and result.rows_rejected == expected
    reasons = set(pd.read_parquet(tmp_path / "out" / "_rejects")["reject_reason"])
    assert reasons == {"bmi: above 0.1"}


DRIVEN_ON_THE_CLUSTER = """
import json, sys
from pipelines.scoring import ScoringRequest, log_to_mlflow, score_batch
from registry.settings import Settings

settings = Settings.model_validate_json(sys.argv[1])
seen = []
result = score_batch(ScoringRequest(model_ref=sys.argv[2], input_path=sys.argv[3], output_path=sys.argv[4],
                                    range_tolerance=None),
                     settings=settings, progress=lambda done, total: seen.append((done, total)))
log_to_mlflow(result, settings)
heavy = sorted(name for name in ("mlflow", "sklearn", "great_expectations", "dask.dataframe", "sqlalchemy")
               if name in sys.modules)
print(json.dumps({"rows_scored": result.rows_scored, "progress": seen[-1], "imported": heavy}))
"""


def test_a_warm_cluster_drives_the_run_so_the_caller_imports_none_of_the_heavy_libraries(
        settings, customers, tmp_path):
    import json
    import subprocess
    import sys

    source = _write_parts(customers, tmp_path / "in")
    completed = subprocess.run(
        [sys.executable, "-c", DRIVEN_ON_THE_CLUSTER, settings.model_dump_json(), MODEL, source, str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    shown = json.loads(completed.stdout.strip().splitlines()[-1])
    assert shown == {"rows_scored": len(customers), "progress": [3, 3], "imported": []}
    assert len(pd.read_parquet(tmp_path / "out")) == len(customers)
