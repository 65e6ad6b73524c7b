"""docker-compose.yaml must configure Modelyard through settings that exist, with files that exist."""

from pathlib import Path

import yaml

from registry.settings import Settings

ROOT = Path(__file__).parents[1]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_every_modelyard_variable_in_compose_is_a_setting(tmp_path):
    compose = _compose()
    environment = compose["x-modelyard-environment"]
    fields = {f"MODELYARD_{name.upper()}" for name in Settings.model_fields}
    everywhere = [environment] + [service.get("environment", {}) for service in compose["services"].values()]
    unknown = [key for env in everywhere if isinstance(env, dict) for key in env
               if key.startswith("MODELYARD_") and key not in fields]
    assert unknown == []
    settings = Settings(**{key.removeprefix("MODELYARD_").lower(): value
                           for key, value in environment.items() if key.startswith("MODELYARD_")
                           and key != "MODELYARD_HOME"}, home=tmp_path)
    assert settings.artifact_root.startswith("s3://") and not settings.artifact_root_is_local


def test_services_depend_on_defined_services_and_mount_existing_files():
    compose = _compose()
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on undefined {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"
    assert (ROOT / "Dockerfile").exists()


def test_airflow_and_dask_services_point_at_each_other():
    compose = _compose()
    services = compose["services"]
    airflow = compose["x-airflow-environment"]
    assert airflow["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert {"redis", "dask-scheduler", "dask-worker", "airflow-scheduler", "airflow-worker",
            "airflow-dag-processor", "airflow-api-server"} <= set(services)
    assert airflow["AIRFLOW_CONN_DASK_DEFAULT"] == compose["x-modelyard-environment"]["MODELYARD_DASK_SCHEDULER"]
    assert "airflow-api-server:8080" in airflow["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    assert "CREATE DATABASE airflow" in (ROOT / "deploy" / "postgres-init.sql").read_text()
    for folder in ("dags", "plugins", "airflow.cfg"):
        assert f"COPY {folder} {folder}" in (ROOT / "Dockerfile").read_text()


def test_deployed_models_live_on_the_serving_queue_worker():
    compose = _compose()
    serving = compose["services"]["airflow-serving-worker"]
    queue = compose["x-modelyard-environment"]["MODELYARD_SERVING_QUEUE"]
    assert serving["command"][-2:] == ["--queues", queue]
    assert serving["environment"]["MODELYARD_SERVE_HOST"] == "0.0.0.0"  # reachable from outside the container
    assert serving["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"  # the shared settings are kept
    assert any(port.startswith("3000-") for port in serving["ports"])
    assert 'os.environ.get("MODELYARD_SERVING_QUEUE", "default")' in (ROOT / "dags" / "serving_tasks.py").read_text()
    for dag in ("deploy_model.py", "rollback_model.py", "undeploy_model.py"):
        assert "default_args=SERVING_DEFAULTS" in (ROOT / "dags" / dag).read_text()
    assert '"queue": SERVING_QUEUE' in (ROOT / "dags" / "reconcile_deployments.py").read_text()
