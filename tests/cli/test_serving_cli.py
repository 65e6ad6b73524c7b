"""`modelyard deploy / rollback / deployments list|reconcile / undeploy` in real processes,
with real bentoml servers behind the model's stable endpoint."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from registry.settings import Settings
from tests.servers import free_port

MODELYARD = str(Path(sys.executable).parent / "modelyard")
pytestmark = pytest.mark.timeout(300)


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for init to reap it (the CLI that started it has exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_deploy_rollback_list_reconcile_and_undeploy_from_the_command_line(tmp_path):
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path / "home")
    train_demo_model(DEMO_MODELS["diabetes_regressor"], settings)
    train_demo_model(DEMO_MODELS["diabetes_regressor"], settings)
    env = {**os.environ, "MODELYARD_HOME": str(settings.home)}

    def modelyard(*args, check=True):
        return subprocess.run([MODELYARD, *args], capture_output=True, text=True, env=env, check=check)

    port = free_port()
    deployed = json.loads(modelyard("deploy", "diabetes_regressor/1", "--port", str(port), "--json").stdout)
    try:
        assert deployed["status"] == "running" and deployed["url"] == f"http://127.0.0.1:{port}"
        example = {"columns": {name: [0.01] for name in
                               ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")}}
        answer = httpx.post(f"{deployed['url']}/predict", json=example, timeout=30).json()
        assert answer["model_version"] == 1 and len(answer["predictions"]) == 1
        second = json.loads(modelyard("deploy", "diabetes_regressor@latest", "--json").stdout)
        assert (second["model_version"], second["url"]) == (2, deployed["url"])
        back = json.loads(modelyard("rollback", "diabetes_regressor", "--json").stdout)
        assert (back["model_version"], back["url"]) == (1, deployed["url"])
        assert httpx.post(f"{deployed['url']}/predict", json=example, timeout=30).json()["model_version"] == 1
        listed = json.loads(modelyard("deployments", "list", "--json").stdout)
        assert [(row["model_version"], row["status"], row["healthy"]) for row in listed] == [
            (1, "running", True), (2, "replaced", None), (1, "replaced", None)]
        (repair,) = json.loads(modelyard("deployments", "reconcile", "--json").stdout)
        assert (repair["deployment_id"], repair["action"]) == (back["id"], "ok")
    finally:
        stopped = modelyard("undeploy", "diabetes_regressor", check=False)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped diabetes_regressor/1" in stopped.stdout
    assert not any(_alive(pid) for pid in deployed["pids"] + back["pids"])
    again = modelyard("undeploy", "diabetes_regressor", check=False)
    assert again.returncode == 1 and again.stderr.startswith("error: ")
    missing = modelyard("deploy", "no_such_model/1", "--port", str(free_port()), check=False)
    assert missing.returncode == 1 and "no_such_model" in missing.stderr
