"""``modelyard challenge`` and ``modelyard retrain``: what a user gets wrong is refused with the
field and its flag, before anything is built; a policy is shown, set and validated whole.
(The commands' happy paths run the functions ``tests/bento_services/test_challenges.py`` and
``tests/pipelines/test_retraining_loop.py`` drive on real servers.)"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.pipelines.monitoring.fixtures import monitored  # noqa: F401

NAME = "breast_cancer_classifier"


@pytest.fixture
def run(monitored, monkeypatch):  # noqa: F811
    from registry.settings import get_settings

    monkeypatch.setenv("MODELYARD_HOME", str(monitored.home))
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False)
    get_settings.cache_clear()


@pytest.mark.parametrize(("args", "message"), [
    ((NAME, "--version", "1"), "model 'breast_cancer_classifier' has no running deployment to challenge"),
    ((NAME, "--version", "1", "--mode", "mirror"), "mode must be one of shadow, canary (given 'mirror') (--mode)"),
    ((NAME, "--version", "1", "--percent", "0"), "percent must be above 0 and at most 100 (given 0.0) (--percent)"),
    ((NAME, "--version", "1", "--sticky-header", "x-user"), "sticky_header needs a canary and a header name"),
    ((NAME, "--version", "1", "--rule", "min_labelled=1"), "rule min_labelled: Input should be greater than or "
                                                            "equal to 2 (given 1) (--rule)"),
    ((NAME, "--version", "1", "--rule", "speed=3"), "rule 'speed=3': expected NAME=VALUE with NAME one of"),
    (("status", NAME), "breast_cancer_classifier has never been challenged"),
    (("status", "no_such_model"), "model 'no_such_model' is not registered"),
    (("promote", NAME), "model 'breast_cancer_classifier' has no active challenge"),
    (("end", NAME), "model 'breast_cancer_classifier' has no active challenge"),
])
def test_a_challenge_asked_wrong_is_refused_with_what_is_wrong(run, args, message):
    result = run("challenge", *args)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split()), result.output


def test_judge_with_no_challenge_says_so(run):
    result = run("challenge", "judge")
    assert result.exit_code == 0 and "no active challenge" in result.output


def test_a_retraining_policy_is_set_shown_and_checked(run, monitored):  # noqa: F811
    assert "has no retraining policy" in run("retrain", NAME).output
    refused = run("retrain", NAME, "--now")
    assert refused.exit_code == 1 and "no retraining policy: give one with --set data_path=" in refused.output
    outside = run("retrain", NAME, "--set", "data_path=/etc/passwd")
    assert outside.exit_code == 1 and "data_path '/etc/passwd' is outside the data roots" in outside.output
    path = monitored.home / "data" / "recent.parquet"
    shown = json.loads(run("retrain", NAME, "--set", f"data_path={path}", "--set", "min_drifted_features=2",
                           "--set", "validation_floor.accuracy=0.9", "--json").output)
    assert shown["policy"]["data_path"] == str(path) and shown["policy"]["min_drifted_features"] == 2
    assert shown["policy"]["validation_floor"] == {"accuracy": 0.9} and shown["policy"]["on_drift"] is True
    bad = run("retrain", NAME, "--set", "min_drifted_features=0")
    assert bad.exit_code == 1 and "retraining policy min_drifted_features" in bad.output
    assert f"retrain on {path} when 2+ features drift; floor accuracy 0.9; enabled" in \
        " ".join(run("retrain", NAME).output.split())
