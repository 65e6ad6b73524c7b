"""The ``modelyard`` command line: real commands against a real store in a temporary home."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

MODELYARD = str(Path(sys.executable).parent / "modelyard")


@pytest.fixture
def run(home):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False)

    return invoke


def test_help_is_fast_because_heavy_imports_wait_for_commands():
    """Help loads none of the heavy libraries (airflow+mlflow+gx+bentoml took ~14 s): checked by
    what Python imported (``-X importtime``), not by a clock the suite's other worker slows."""
    result = subprocess.run([sys.executable, "-X", "importtime", MODELYARD, "models", "--help"],
                            capture_output=True, text=True, check=True)
    assert "import" in result.stdout and "download" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert "typer" in imported and not imported & {"airflow", "mlflow", "great_expectations", "bentoml", "dask",
                                                     "pandas", "sklearn"}


def test_import_list_show_alias_describe_doc_download(run, external, tmp_path):
    result = run("models", "import", external.folder / "xgb.json", "--name", "wine",
                 "--sample", external.sample_csv, "--target", "label")
    assert result.exit_code == 0, result.output
    assert "imported wine/1 (xgboost, classification)" in result.output
    assert "validation_accuracy" in result.output

    listed = json.loads(run("models", "list", "--json").output)
    assert [(m["name"], m["latest_version"], m["flavor"]) for m in listed] == [("wine", 1, "xgboost")]
    assert listed[0]["key_metric"] == "validation_roc_auc"

    assert run("models", "alias", "wine/1", "champion").exit_code == 0
    assert run("models", "describe", "wine@champion", "Imported from the lab.").exit_code == 0
    shown = json.loads(run("models", "show", "wine@champion", "--json").output)
    assert shown["aliases"] == ["champion"] and shown["description"] == "Imported from the lab."
    assert [event["action"] for event in shown["events"]] == ["description_set", "alias_set", "imported"]
    table = run("models", "show", "wine/1").output
    assert "validation" in table and "alcohol" in table

    doc = tmp_path / "wine.html"
    assert run("models", "doc", "wine@champion", "--format", "html", "--output", doc).exit_code == 0
    assert "Imported from the lab." in doc.read_text()

    archive = tmp_path / "wine.zip"
    assert run("models", "download", "wine@champion", "--output", archive).exit_code == 0
    assert "MANIFEST.json" in zipfile.ZipFile(archive).namelist()


def test_an_alias_is_deleted_and_a_name_clash_hints_the_flags(run, external):
    assert run("models", "import", external.folder / "xgb.json", "--name", "wine").exit_code == 0
    assert run("models", "alias", "wine/1", "champion").exit_code == 0
    deleted = run("models", "alias", "wine", "--delete", "champion")
    assert deleted.exit_code == 0 and "alias champion removed from wine/1" in deleted.output
    assert json.loads(run("models", "show", "wine", "--json").output)["aliases"] == []
    missing = run("models", "alias", "wine", "--delete", "champion")
    assert missing.exit_code == 1 and "error: model 'wine' has no alias 'champion'" in missing.output
    assert run("models", "alias", "wine/1", "--delete", "champion").exit_code == 1  # an alias is the model's

    clash = run("models", "import", external.folder / "xgb.json", "--name", "wine")
    assert clash.exit_code == 1
    assert ("error: model 'wine' already exists: choose another name, or import this as a new version of it "
            "(--name to choose another, or --new-version to add a version to it)") in " ".join(clash.output.split())
    added = run("models", "import", external.folder / "xgb.json", "--name", "wine", "--new-version")
    assert added.exit_code == 0 and "imported wine/2" in added.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["models", "show", "nope"], "error: model 'nope' is not registered"),
        (["models", "doc", "bad ref!", "-o", "x.html"], "error: invalid model reference 'bad ref!'"),
        (["train", "--model", "titanic"], "error: unknown demo model 'titanic'"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(run, args, message):
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_import_in_a_real_process_exits_1_with_one_line_and_registers_nothing(home, external):
    env = {**os.environ, "MODELYARD_HOME": str(home.home)}
    result = subprocess.run(
        [MODELYARD, "models", "import", str(external.folder / "corrupt.onnx"), "--name", "broken"],
        capture_output=True, text=True, env=env,
    )
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: corrupt.onnx is not a readable onnx model")
    listed = subprocess.run([MODELYARD, "models", "list", "--json"], capture_output=True, text=True,
                            env=env, check=True)
    assert json.loads(listed.stdout) == []


def test_score_and_associate_from_the_command_line(scoring_home, tmp_path):
    """A real process: the default local Dask cluster, a progress bar, a summary, exit codes."""
    from pipelines.training import load_dataset

    settings = scoring_home
    env = {**os.environ, "MODELYARD_HOME": str(settings.home), "MODELYARD_DATA_ROOTS": json.dumps([str(tmp_path)]),
           "MODELYARD_ASSOCIATIONS_SNAPSHOT": str(tmp_path / "associations.json")}
    features, _ = load_dataset("diabetes")
    features.insert(0, "visit", range(len(features)))
    features.to_parquet(tmp_path / "in.parquet")
    result = subprocess.run(
        [MODELYARD, "score", "diabetes_regressor/1", "--input", str(tmp_path / "in.parquet"),
         "--output", str(tmp_path / "out"), "--policy", "quarantine", "--json"],
        capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows_in"] == 442 == summary["rows_scored"] + summary["rows_rejected"]
    import pandas as pd

    assert pd.read_parquet(tmp_path / "out")["visit"].is_unique
    listed = json.loads(subprocess.run([MODELYARD, "runs", "--model", "diabetes_regressor", "--json"],
                                       capture_output=True, text=True, env=env, check=True).stdout)
    assert listed[0]["id"] == summary["run_id"] and listed[0]["status"] == "succeeded"
    assert listed[0]["mlflow_run_id"]

    bad = subprocess.run([MODELYARD, "score", "diabetes_regressor/1", "--input", str(tmp_path / "missing.parquet"),
                          "--output", str(tmp_path / "out2")], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "error: input" in bad.stderr and "does not exist" in bad.stderr

    associated = subprocess.run(
        [MODELYARD, "associate", "diabetes_regressor/1", "--input", str(tmp_path / "in.parquet"),
         "--output", str(tmp_path / "daily/{{ ds }}"), "--schedule", "@daily", "--name", "cli_daily"],
        capture_output=True, text=True, env=env)
    assert associated.returncode == 0, associated.stderr
    assert "score__cli_daily" in associated.stdout
    listed = json.loads(subprocess.run([MODELYARD, "associations", "list", "--model", "diabetes_regressor", "--json"],
                                       capture_output=True,
                                       text=True, env=env, check=True).stdout)
    assert [a["dag_id"] for a in listed] == ["score__cli_daily"]
    subprocess.run([MODELYARD, "associations", "remove", "cli_daily"], env=env, check=True, capture_output=True)
