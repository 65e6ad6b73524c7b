"""One typed settings object, read at run time from the environment.

Defaults are the embedded ones (everything under ``MODELYARD_HOME``); environment variables
switch to real services (Postgres, S3, a Dask cluster) without code changes.
"""

from __future__ import annotations

import functools
import getpass
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELYARD_", extra="ignore")

    home: Path = Field(default=Path("var"), description="Folder for all embedded state.")
    tracking_uri: str | None = Field(default=None, description="MLflow tracking URI.")
    registry_uri: str | None = Field(default=None, description="MLflow registry URI.")
    artifact_root: str | None = Field(
        default=None, description="Where model artifacts live: a folder or an s3:// URI."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO, moto...)."
    )
    database_url: str | None = Field(default=None, description="Metadata database URL.")
    experiment: str = Field(default="modelyard", description="MLflow experiment for runs.")
    dask_scheduler: str | None = Field(
        default=None, description="Dask scheduler address; a local cluster when unset."
    )
    user: str = Field(default_factory=getpass.getuser, description="Actor named in events.")
    serve_request_log: bool = Field(
        default=True, description="Deployed services log every request and answer to Parquet (registry.request_logs)."
    )
    request_log_root: str | None = Field(
        default=None, description="Folder or s3:// prefix of the request logs; the home's request_logs when unset."
    )
    request_log_retention_days: float = Field(
        default=30.0, gt=0, description="Logged requests older than this are deleted by each monitoring run."
    )
    serve_tracing: bool = Field(
        default=False, description="Model servers make BentoML's OpenTelemetry span for every request (configure its "
                                   "exporter and sample rate in BENTOML_CONFIG); off, they skip that middleware."
    )
    serve_max_body_bytes: int = Field(
        default=16 * 1024 * 1024, gt=0, description="Deployed services answer 413 to larger request bodies."
    )
    serve_host: str = Field(
        default="127.0.0.1", description="Address model endpoints (gateways) listen on; 0.0.0.0 in a container."
    )
    serve_public_host: str | None = Field(
        default=None, description="Host name in endpoint URLs; the listen address, or this host's name for 0.0.0.0."
    )
    serving_queue: str = Field(
        default="default", description="Celery queue of the deploy and reconcile tasks: the workers that host models."
    )
    serve_replicas: int = Field(
        default=2, ge=1, le=16, description="BentoML servers per deployment behind the model's gateway."
    )
    gateway_workers: int = Field(
        default=2, ge=1, le=16, description="Processes of each model's gateway behind its one port: when one dies "
                                            "the others answer and its master starts another."
    )
    serve_spares: bool = Field(
        default=True, description="Keep a warm spare server per replica of each serving model, so its next deploy "
                                  "or rollback loads into a started server in seconds (bento_services.spares)."
    )
    challenge_interval_s: float = Field(
        default=30.0, gt=0, description="Seconds between evaluations of each active challenge by its rule."
    )
    serve_keep_bentos: int = Field(
        default=3, ge=1, description="Bentos kept per model (the newest, plus any a deployment runs)."
    )
    airflow_port: int = Field(default=8080, gt=0, lt=65536, description="Port of the embedded Airflow UI and API.")
    mlflow_port: int = Field(default=5000, gt=0, lt=65536, description="Port of the embedded MLflow UI.")
    dask_port: int = Field(default=8786, gt=0, lt=65536, description="Port of the embedded Dask scheduler.")
    dask_dashboard_port: int = Field(default=8787, gt=0, lt=65536, description="Port of its dashboard.")
    dask_workers: int = Field(default=2, ge=1, description="Worker processes of the embedded Dask cluster.")
    dask_worker_memory: str = Field(default="4GB", description="Memory limit of each embedded Dask worker.")
    data_roots: list[str] | None = Field(
        default=None, description="Folders or s3:// prefixes that scheduled workflows may read and write "
                                  "(JSON list); the home's data folder when unset."
    )

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> "Settings":
        self.home = self.home.expanduser().resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        if self.tracking_uri is None:
            self.tracking_uri = f"sqlite:///{self.home / 'mlflow.db'}"
        if self.registry_uri is None:
            self.registry_uri = self.tracking_uri
        if self.artifact_root is None:
            self.artifact_root = str(self.home / "artifacts")
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.home / 'modelyard.db'}"
        if self.data_roots is None:
            (self.home / "data").mkdir(exist_ok=True)
            self.data_roots = [str(self.home / "data")]
        return self

    def as_environment(self) -> dict[str, str]:
        """These settings as ``MODELYARD_*`` variables, for a child process whose ``Settings()``
        must read the same: each one given (by argument or the environment) and the home."""
        import json

        values = {**self.model_dump(mode="json", exclude_unset=True, exclude_none=True), "home": str(self.home)}
        return {f"MODELYARD_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
                for name, value in values.items()}

    @property
    def artifact_root_is_local(self) -> bool:
        return "://" not in self.artifact_root or self.artifact_root.startswith("file://")


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; call ``get_settings.cache_clear()`` after changing the env."""
    return Settings()
