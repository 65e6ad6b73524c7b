"""Reading models and versions: the lists the Models page shows, and one version in full."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel

from registry.catalog.artifacts import artifact_text, logged_model, plot_names, read_card
from registry.evaluation import KEY_METRIC, plot_title
from registry.metadata.db import session_scope
from registry.metadata.events import EventRecord, events_for
from registry.refs import ModelRef, parse_ref
from registry.settings import Settings, get_settings
from registry.store import mlflow_client, require_registered, resolve_version


class ModelSummary(BaseModel):
    name: str
    latest_version: int | None
    versions: int
    aliases: dict[str, int]
    flavor: str | None
    task: str | None
    origin: str | None
    key_metric: str | None
    key_metric_value: float | None
    description: str | None  # the latest version's: what its ModelDoc shows and edits
    created_at: datetime
    updated_at: datetime


class DatasetInfo(BaseModel):
    name: str
    digest: str
    context: str | None
    source: str | None
    rows: int | None


class VersionDetail(BaseModel):
    name: str
    version: int
    aliases: list[str]
    description: str | None
    flavor: str
    task: str
    origin: str
    source: str | None
    owner: str | None
    created_at: datetime
    run_id: str | None
    model_id: str
    model_uri: str
    artifact_uri: str
    params: dict[str, str]
    training_metrics: dict[str, float]
    validation_metrics: dict[str, float]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    classes: list[Any] | None
    target: str | None
    pipeline_steps: list[str]
    datasets: list[DatasetInfo]
    mlflow_version: str | None
    requirements: list[str]
    events: list[EventRecord]

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"


class VersionSummary(BaseModel):
    """One version as the Models page lists it: its metrics side by side with the others'."""

    name: str
    version: int
    aliases: list[str]
    description: str | None
    created_at: datetime
    flavor: str | None
    task: str | None
    origin: str | None
    run_id: str | None
    training_metrics: dict[str, float]
    validation_metrics: dict[str, float]
    plots: list[dict[str, str]]


def _when(millis: int | None) -> datetime:
    return datetime.fromtimestamp((millis or 0) / 1000, tz=timezone.utc)


def _stage_metrics(metrics: dict[str, float], stage: str) -> dict[str, float]:
    """The ``training_`` or ``validation_`` metrics of a run, without the prefix."""
    prefix = f"{stage}_"
    return {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}


def list_models(settings: Settings | None = None) -> list[ModelSummary]:
    """Every registered model with its latest version, aliases and key validation metric.

    A fixed number of store calls whatever the number of models: every model, every version and
    the runs of the latest versions are each fetched in pages, then matched here."""
    client = mlflow_client(settings)
    models = _every_page(lambda token: client.search_registered_models(max_results=1000, page_token=token,
                                                                        order_by=["name ASC"]))
    by_name: dict[str, list] = {}
    for version in _every_page(lambda token: client.search_model_versions(max_results=10000, page_token=token)):
        by_name.setdefault(version.name, []).append(version)
    latest = {name: max(versions, key=lambda v: int(v.version)) for name, versions in by_name.items()}
    metrics = run_metrics(client, [version.run_id for version in latest.values() if version.run_id])
    return [_summarise(model, latest.get(model.name), len(by_name.get(model.name, [])), metrics) for model in models]


def _every_page(search) -> list:
    found, token = [], None
    while True:
        page = search(token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def run_metrics(client, run_ids: list[str], chunk: int = 100) -> dict[str, dict[str, float]]:
    """Run id -> metrics, fetched a hundred runs per search."""
    if not run_ids:
        return {}
    experiments = [e.experiment_id for e in _every_page(lambda token: client.search_experiments(page_token=token))]
    found: dict[str, dict[str, float]] = {}
    for start in range(0, len(run_ids), chunk):
        ids = ", ".join(f"'{run_id}'" for run_id in run_ids[start:start + chunk])
        runs = _every_page(lambda token: client.search_runs(experiments, f"attributes.run_id IN ({ids})",
                                                            max_results=chunk, page_token=token))
        found.update({run.info.run_id: run.data.metrics for run in runs})
    return found


def _key_metric(task: str | None, metrics: dict[str, float]) -> tuple[str | None, float | None]:
    if task not in KEY_METRIC:
        return None, None
    metric = f"validation_{KEY_METRIC[task]}"
    if metric not in metrics and task == "classification":
        metric = "validation_accuracy"
    value = metrics.get(metric)
    return (metric, value) if value is not None else (None, None)


def _summarise(model, latest, count: int, metrics: dict[str, dict[str, float]]) -> ModelSummary:
    tags = latest.tags if latest else {}
    task = tags.get("modelyard.task")
    metric, value = _key_metric(task, metrics.get(latest.run_id, {}) if latest and latest.run_id else {})
    return ModelSummary(
        name=model.name,
        latest_version=int(latest.version) if latest else None,
        versions=count,
        aliases={alias: int(number) for alias, number in (model.aliases or {}).items()},
        flavor=tags.get("modelyard.flavor"),
        task=task,
        origin=tags.get("modelyard.origin"),
        key_metric=metric,
        key_metric_value=value,
        description=(latest.description or None) if latest else None,  # the one the ModelDoc edits
        created_at=_when(model.creation_timestamp),
        updated_at=_when(model.last_updated_timestamp),
    )


def list_versions(name: str, *, settings: Settings, plots: bool = True) -> list[VersionSummary]:
    """Every version of the model, newest first, with training and validation metrics (and, with
    ``plots``, the evaluation plots each one has)."""
    client = mlflow_client(settings)
    require_registered(client, name)
    aliases: dict[int, list[str]] = {}
    for alias, number in (client.get_registered_model(name).aliases or {}).items():
        aliases.setdefault(int(number), []).append(alias)
    versions = _every_page(lambda token: client.search_model_versions(
        f"name = '{name}'", order_by=["version_number DESC"], max_results=1000, page_token=token))
    metrics = run_metrics(client, [version.run_id for version in versions if version.run_id])
    return [_version_summary(client, version, sorted(aliases.get(int(version.version), [])),
                             metrics.get(version.run_id or "", {}), plots) for version in versions]


def _version_summary(client, version, aliases: list[str], metrics: dict[str, float], plots: bool) -> VersionSummary:
    names = plot_names(client, version) if plots else []
    return VersionSummary(
        name=version.name, version=int(version.version), aliases=aliases, description=version.description or None,
        created_at=_when(version.creation_timestamp), flavor=version.tags.get("modelyard.flavor"),
        task=version.tags.get("modelyard.task"), origin=version.tags.get("modelyard.origin"), run_id=version.run_id,
        training_metrics=_stage_metrics(metrics, "training"),
        validation_metrics=_stage_metrics(metrics, "validation"),
        plots=[{"name": plot, "title": plot_title(plot)} for plot in names],
    )


def _schema(schema) -> list[dict[str, Any]]:
    if schema is None:
        return []
    return [{"name": spec.get("name"), "type": spec.get("type")} for spec in schema.to_dict()]


def _aliases_of(client, name: str, version: int) -> list[str]:
    """The aliases pointing at one version, from the registered model: a version found as the
    latest (a search) carries none of its own."""
    return sorted(alias for alias, number in (client.get_registered_model(name).aliases or {}).items()
                  if int(number) == version)


def show_version(ref: str | ModelRef, settings: Settings | None = None) -> VersionDetail:
    """One version with its parameters, metrics, signature, lineage and events."""
    from mlflow.models import Model

    settings = settings or get_settings()
    ref = parse_ref(ref) if isinstance(ref, str) else ref
    client = mlflow_client(settings)
    version = resolve_version(ref, client)
    run = client.get_run(version.run_id) if version.run_id else None
    logged = logged_model(client, version)  # fetched once: card, MLmodel, requirements
    card = read_card(client, version, logged.artifact_location)
    mlmodel = Model.load(logged.artifact_location)
    metrics = run.data.metrics if run else {}
    requirements = artifact_text(logged.artifact_location, "requirements.txt") or ""
    with session_scope(settings) as session:
        events = events_for(session, model_name=ref.name, model_version=int(version.version))
    return VersionDetail(
        name=ref.name,
        version=int(version.version),
        aliases=_aliases_of(client, ref.name, int(version.version)),
        description=version.description or None,
        flavor=card.flavor,
        task=card.task,
        origin=card.origin,
        source=card.source,
        owner=(run.data.tags.get("mlflow.user") if run else None) or version.user_id,
        created_at=_when(version.creation_timestamp),
        run_id=version.run_id,
        model_id=logged.model_id,
        model_uri=f"models:/{ref.name}/{version.version}",
        artifact_uri=logged.artifact_location,
        params=dict(run.data.params) if run else {},
        training_metrics=_stage_metrics(metrics, "training"),
        validation_metrics=_stage_metrics(metrics, "validation"),
        inputs=_schema(mlmodel.signature.inputs if mlmodel.signature else None),
        outputs=_schema(mlmodel.signature.outputs if mlmodel.signature else None),
        classes=card.classes,
        target=card.target,
        pipeline_steps=card.pipeline_steps,
        datasets=_datasets(run),
        mlflow_version=mlmodel.mlflow_version,
        requirements=[line for line in requirements.splitlines() if line.strip()],
        events=events,
    )


def _datasets(run) -> list[DatasetInfo]:
    if run is None or run.inputs is None:
        return []
    result = []
    for item in run.inputs.dataset_inputs:
        tags = {tag.key: tag.value for tag in item.tags}
        profile = json.loads(item.dataset.profile or "{}")
        source = json.loads(item.dataset.source or "{}")
        result.append(DatasetInfo(
            name=item.dataset.name, digest=item.dataset.digest,
            context=tags.get("mlflow.data.context"),
            source=(source.get("uri") or source.get("url")) if isinstance(source, dict) else None,
            rows=profile.get("num_rows"),
        ))
    return result
