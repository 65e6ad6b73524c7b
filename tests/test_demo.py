"""`make demo` runs `modelyard demo`; this runs it too (without Airflow, which tests/dags covers),
then stops the online deployment the demo leaves running."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd


def test_demo_trains_imports_documents_scores_and_schedules(tmp_path):
    env = {**os.environ, "MODELYARD_HOME": str(tmp_path)}
    modelyard = str(Path(sys.executable).parent / "modelyard")
    try:
        _check_demo(tmp_path, env, modelyard)
    finally:  # a failed check must not leave the demo's servers running
        stopped = subprocess.run([modelyard, "undeploy", "breast_cancer_classifier"], capture_output=True, text=True,
                                 env=env, timeout=120)
    assert stopped.returncode == 0, stopped.stderr


def _check_demo(tmp_path, env, modelyard):
    result = subprocess.run([modelyard, "demo", "--no-platform"], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("breast_cancer_classifier", "diabetes_regressor", "wine_xgboost", "score__demo_nightly"):
        assert name in result.stdout
    demo = tmp_path / "demo"
    assert (demo / "modeldoc-breast_cancer_classifier.html").stat().st_size > 50_000
    assert (demo / "breast_cancer_classifier.zip").exists()
    batch = tmp_path / "data" / "demo"  # the home's data root: associations may read and write there
    scored = pd.read_parquet(batch / "scored")
    rejected = pd.read_parquet(batch / "scored" / "_rejects")
    assert len(scored) + len(rejected) == len(pd.read_parquet(batch / "input.parquet"))
    assert {3, 7} <= set(rejected["customer_id"])
    assert "Online: http://127.0.0.1:" in result.stdout and "V2 infer ->" in result.stdout
    from registry.monitoring import runs_for
    from registry.settings import Settings

    (record,) = runs_for(Settings(home=tmp_path), "breast_cancer_classifier", source="online")
    assert record.figures.requests >= 400 and record.figures.labelled_rows >= 400
    assert record.figures.drifted_features == ["mean_radius", "mean_smoothness", "mean_texture"]
    assert "Monitoring: " in result.stdout and "modelyard monitor breast_cancer_classifier" in result.stdout
