"""The MLflow side of the repository: a client bound to the settings, and reference resolution."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from registry.errors import ModelNotFoundError
from registry.refs import ModelRef
from registry.settings import Settings, get_settings

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion


def mlflow_client(settings: Settings | None = None) -> "MlflowClient":
    """A client for the configured tracking and registry stores.

    MLflow resolves ``models:/`` URIs and S3 endpoints from process-wide state, whatever the
    client was given, so that state is set to the same values here.
    """
    import mlflow
    from mlflow import MlflowClient

    settings = settings or get_settings()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if settings.s3_endpoint_url:
        os.environ["MLFLOW_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.registry_uri)


def experiment_id(client: "MlflowClient", settings: Settings | None = None) -> str:
    """The id of Modelyard's experiment, created with the configured artifact root."""
    settings = settings or get_settings()
    experiment = client.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        return experiment.experiment_id
    location = settings.artifact_root
    if settings.artifact_root_is_local:
        os.makedirs(location.removeprefix("file://"), exist_ok=True)
    return client.create_experiment(settings.experiment, artifact_location=location)


def registered_model_exists(client: "MlflowClient", name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def require_registered(client: "MlflowClient", name: str) -> None:
    """A not-found error naming ``name`` (its field: ``name``) for a model the registry does not have."""
    if not registered_model_exists(client, name):
        raise ModelNotFoundError(f"model {name!r} is not registered", field="name")


def latest_version(client: "MlflowClient", name: str) -> "ModelVersion | None":
    versions = client.search_model_versions(
        f"name = '{name}'", order_by=["version_number DESC"], max_results=1
    )
    return versions[0] if versions else None


def resolve_version(ref: ModelRef, client: "MlflowClient | None" = None) -> "ModelVersion":
    """The one concrete version a reference means now, or an error naming what is missing."""
    from mlflow.exceptions import MlflowException

    client = client or mlflow_client()
    if not registered_model_exists(client, ref.name):
        raise ModelNotFoundError(f"model {ref.name!r} is not registered")
    try:
        if ref.alias is not None:
            return client.get_model_version_by_alias(ref.name, ref.alias)
        if ref.version is not None:
            return client.get_model_version(ref.name, str(ref.version))
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            what = f"alias {ref.alias!r}" if ref.alias else f"version {ref.version}"
            raise ModelNotFoundError(f"model {ref.name!r} has no {what}") from None
        raise
    version = latest_version(client, ref.name)
    if version is None:
        raise ModelNotFoundError(f"model {ref.name!r} has no versions")
    return version
