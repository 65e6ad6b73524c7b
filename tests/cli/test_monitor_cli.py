"""``modelyard monitor`` and ``modelyard labels add`` against a real store with a written request log."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.pipelines.monitoring.fixtures import monitored  # noqa: F401
from tests.pipelines.monitoring.logs import requests_frame, write_log

NAME = "breast_cancer_classifier"


@pytest.fixture
def run(monitored, monkeypatch):  # noqa: F811
    from registry.settings import get_settings

    monkeypatch.setenv("MODELYARD_HOME", str(monitored.home))
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False)
    get_settings.cache_clear()


def test_monitor_now_shows_windows_drift_and_alerts_then_labels_and_thresholds(run, monitored, tmp_path):  # noqa: F811
    from pipelines.training import load_dataset

    assert "no monitoring records yet" in run("monitor", NAME).output
    features, target = load_dataset("breast_cancer")
    picked = features.sample(300, replace=True, random_state=7)
    picked["worst_radius"] *= 3
    frame = requests_frame(picked, target.loc[picked.index], start=datetime.now(timezone.utc) - timedelta(minutes=30),
                           span=timedelta(minutes=20), classes=[0, 1])
    write_log(monitored, NAME, 1, frame)

    result = run("monitor", NAME, "--now")
    assert result.exit_code == 0, result.output
    assert "Monitoring of breast_cancer_classifier" in result.output and "Open alerts" in result.output
    assert "feature worst_radius drifted" in result.output and "worst_radius" in result.output

    frame.assign(label=frame["output_prediction"])[["request_id", "label"]].to_csv(tmp_path / "labels.csv", index=False)
    added = run("labels", "add", NAME, "--file", tmp_path / "labels.csv")
    assert added.exit_code == 0 and "added 300 labels" in added.output

    changed = json.loads(run("monitor", NAME, "--set", "psi=0.5", "--set", "metric_floors.accuracy=0.9",
                             "--set", "webhook_url=http://127.0.0.1:9/hook", "--json").output)
    assert changed["thresholds"]["psi"] == 0.5 and changed["thresholds"]["metric_floors"] == {"accuracy": 0.9}
    assert changed["thresholds"]["webhook_url"] == "http://127.0.0.1:9/hook"
    assert [alert["subject"] for alert in changed["open_alerts"]] == ["worst_radius"]
    assert changed["records"][0]["figures"]["requests"] == 300


@pytest.mark.parametrize(("args", "message"), [
    (("monitor", NAME, "--set", "psi=-1"), "threshold psi"),
    (("monitor", NAME, "--set", "psi=abc"), "valid number, unable to parse string as a number (given 'abc') (--set psi=VALUE)"),
    (("monitor", "no_such_model"), "model 'no_such_model' is not registered"),
    (("monitor", "no_such_model", "--set", "psi=0.3"), "model 'no_such_model' is not registered"),
    (("monitor", NAME, "--set", "colour=red"), "threshold colour"),
    (("labels", "add", NAME, "--file", "/no/such.csv"), "does not exist (--file)"),
])
def test_bad_input_is_one_line_naming_the_field(run, args, message):
    result = run(*args)
    assert result.exit_code == 1 and message in result.output
