"""The MLflow tracking server and UI on the platform's own stores.

Modelyard's clients keep using the stores directly (the settings' tracking URI); the server
shows the same experiments, runs, metrics, registered models and artifacts in MLflow's UI, and
answers MLflow clients that prefer its HTTP API. When the tracking URI is itself a server
(``http://...``), that server is the platform's and nothing is started here.
"""

from __future__ import annotations

from infra.probes import local_url
from infra import processes
from infra.processes import SCRIPTS, Process
from registry.settings import Settings
from stack import service

SERVICE = "mlflow"


def replaced_by(settings: Settings) -> str | None:
    """The tracking server the settings point at instead of a local store, if any."""
    return settings.tracking_uri if settings.tracking_uri.startswith(("http://", "https://")) else None


def url(settings: Settings) -> str:
    return local_url(settings.mlflow_port)


def command(settings: Settings) -> list[str]:
    """``mlflow server`` on loopback, over the tracking and registry stores and the artifact root.

    Artifacts are not proxied: runs keep the artifact location they were logged with, which the
    server reads as the clients do (the local folder, or S3 with the same credentials)."""
    return [str(SCRIPTS / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(settings.mlflow_port),
            "--workers", "1", "--backend-store-uri", settings.tracking_uri,
            "--registry-store-uri", settings.registry_uri, "--default-artifact-root", settings.artifact_root,
            "--no-serve-artifacts"]


def start(settings: Settings, env: dict[str, str], *, timeout: float = 120.0) -> list[Process]:
    """Start the server and return once it answers ``/health``."""
    service.require_free(settings.mlflow_port, "mlflow_port")
    launched = [service.launch(settings, SERVICE, "mlflow-server", command(settings), _server_env(settings, env))]
    try:
        service.wait_until(lambda: service.http_ok(f"{url(settings)}/health"), launched, "the MLflow server", timeout)
    except BaseException:
        processes.stop(launched, timeout=10.0)
        raise
    return launched


def relaunch(settings: Settings, env: dict[str, str], process: Process, record: dict) -> Process:
    """The server again as ``start`` ran it, without waiting for its health (the supervisor's restart)."""
    return service.launch(settings, SERVICE, process.name, command(settings), _server_env(settings, env))


def _server_env(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    # Its job runner (GenAI scorers and trace jobs, which Modelyard does not use) is seven more
    # processes and about 2 GB.
    env = {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    if settings.s3_endpoint_url:
        env["MLFLOW_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    return env


def health(settings: Settings) -> dict[str, bool]:
    return {"mlflow-server": service.http_ok(f"{url(settings)}/health")}


def urls(settings: Settings) -> dict[str, str]:
    return {"mlflow-server": url(settings)}
