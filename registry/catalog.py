"""Reading and annotating the repository: list models, show a version, aliases, descriptions."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from registry.card import CARD_FILE, ModelCard
from registry.evaluation import KEY_METRIC, plot_title
from registry.metadata.db import session_scope
from registry.metadata.events import EventRecord, events_for, record_event
from registry.refs import ModelRef, check_alias, parse_ref
from registry.settings import Settings, get_settings
from registry.store import mlflow_client, resolve_version


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


def _when(millis: int | None) -> datetime:
    return datetime.fromtimestamp((millis or 0) / 1000, tz=timezone.utc)


def model_id_of(version) -> str:
    """MLflow leaves ``ModelVersion.model_id`` empty on some stores; the source names it too."""
    return version.model_id or version.source.removeprefix("models:/").split("/")[0]


def _artifact_text(location: str, relative: str) -> str | None:
    """A text file of a logged model, by the model's artifact location (local or S3)."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.artifacts.load_text(f"{location.rstrip('/')}/{relative}")
    except (MlflowException, OSError):
        return None


def read_card(client, version, location: str | None = None) -> ModelCard:
    """The version's model card; pass the logged model's ``location`` when it is known already."""
    location = location or client.get_logged_model(model_id_of(version)).artifact_location
    return ModelCard.model_validate(json.loads(_artifact_text(location, CARD_FILE)))


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


def list_versions(name: str, *, settings: Settings, plots: bool = True) -> list[VersionSummary]:
    """Every version of the model, newest first, with training and validation metrics (and, with
    ``plots``, the evaluation plots each one has)."""
    from registry.store import require_registered

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
        training_metrics={k.removeprefix("training_"): v for k, v in metrics.items() if k.startswith("training_")},
        validation_metrics={k.removeprefix("validation_"): v for k, v in metrics.items()
                            if k.startswith("validation_")},
        plots=[{"name": plot, "title": plot_title(plot)} for plot in names],
    )


def plot_names(client, version) -> list[str]:
    """The evaluation plots (``plots/*.png``) stored with a version's logged model."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from registry.registration import PLOTS_DIR

    location = client.get_logged_model(model_id_of(version)).artifact_location
    try:
        listed = mlflow.artifacts.list_artifacts(artifact_uri=f"{location.rstrip('/')}/{PLOTS_DIR}")
    except (MlflowException, OSError):
        return []
    return sorted(Path(item.path).stem for item in listed if item.path.endswith(".png"))


def plot_png(ref: str | ModelRef, plot: str, *, settings: Settings) -> bytes:
    """One evaluation plot of a version, as PNG bytes."""
    import tempfile

    import mlflow.artifacts

    from registry.errors import ModelNotFoundError
    from registry.registration import PLOTS_DIR

    ref = parse_ref(ref) if isinstance(ref, str) else ref
    client = mlflow_client(settings)
    version = resolve_version(ref, client)
    if plot not in plot_names(client, version):
        raise ModelNotFoundError(f"{ref} has no plot {plot!r}", field="plot")
    location = client.get_logged_model(model_id_of(version)).artifact_location
    with tempfile.TemporaryDirectory(prefix="modelyard-plot-") as scratch:
        path = mlflow.artifacts.download_artifacts(artifact_uri=f"{location.rstrip('/')}/{PLOTS_DIR}/{plot}.png",
                                                   dst_path=scratch)
        return Path(path).read_bytes()


def input_example(ref: str | ModelRef, *, settings: Settings, rows: int = 1) -> list[dict[str, Any]] | None:
    """The first ``rows`` of a version's input example as records (what ``/predict`` takes), if it has one."""
    import tempfile

    from mlflow.models import Model

    ref = parse_ref(ref) if isinstance(ref, str) else ref
    client = mlflow_client(settings)
    location = client.get_logged_model(model_id_of(resolve_version(ref, client))).artifact_location
    mlmodel = _artifact_text(location, "MLmodel")
    if mlmodel is None or "saved_input_example_info" not in mlmodel:
        return None
    with tempfile.TemporaryDirectory(prefix="modelyard-example-") as scratch:
        import mlflow.artifacts

        for name in ("MLmodel", *_example_files(mlmodel)):
            mlflow.artifacts.download_artifacts(artifact_uri=f"{location.rstrip('/')}/{name}", dst_path=scratch)
        example = Model.load(scratch).load_input_example(scratch)
    if example is None:
        return None
    return json.loads(example.head(rows).to_json(orient="records"))


def _example_files(mlmodel: str) -> list[str]:
    import yaml

    info = yaml.safe_load(mlmodel).get("saved_input_example_info") or {}
    return [info["artifact_path"]] if info.get("artifact_path") else []


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
    logged = client.get_logged_model(model_id_of(version))  # fetched once: card, MLmodel, requirements
    card = read_card(client, version, logged.artifact_location)
    mlmodel = Model.load(logged.artifact_location)
    metrics = run.data.metrics if run else {}
    requirements = _artifact_text(logged.artifact_location, "requirements.txt") or ""
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
        training_metrics={k.removeprefix("training_"): v for k, v in metrics.items() if k.startswith("training_")},
        validation_metrics={k.removeprefix("validation_"): v for k, v in metrics.items() if k.startswith("validation_")},
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


def set_alias(ref: str, alias: str, settings: Settings | None = None, *, actor: str | None = None) -> VersionDetail:
    """Point ``alias`` at the version ``ref`` means now, and record who moved it from where."""
    settings = settings or get_settings()
    return show_version(move_alias(ref, alias, settings, actor=actor), settings)


def move_alias(ref: str, alias: str, settings: Settings, *, actor: str | None = None) -> ModelRef:
    """``set_alias`` without the version's details to show (a deploy's promote needs none)."""
    model_ref = parse_ref(ref)
    check_alias(alias)
    client = mlflow_client(settings)
    version = resolve_version(model_ref, client)
    previous = client.get_registered_model(model_ref.name).aliases.get(alias)
    with session_scope(settings) as session:
        record_event(
            session, actor=actor or settings.user, action="alias_set", model_name=model_ref.name,
            model_version=int(version.version),
            details={"alias": alias, "previous_version": int(previous) if previous else None},
        )
        client.set_registered_model_alias(model_ref.name, alias, version.version)
    return ModelRef(model_ref.name, int(version.version))


class AliasRemoved(BaseModel):
    """An alias taken off a model, and the version it pointed at."""

    name: str
    alias: str
    version: int


def remove_alias(name: str, alias: str, settings: Settings, *, actor: str,
                 reason: str | None = None) -> AliasRemoved:
    """Take ``alias`` off model ``name`` (its versions stay), and record who did it and why."""
    from registry.errors import ModelNotFoundError
    from registry.store import require_registered

    check_alias(alias)
    client = mlflow_client(settings)
    require_registered(client, name)
    version = (client.get_registered_model(name).aliases or {}).get(alias)
    if version is None:
        raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}", field="alias")
    with session_scope(settings) as session:
        record_event(session, actor=actor, action="alias_removed", model_name=name, model_version=int(version),
                     details={"alias": alias, **({"reason": reason} if reason else {})})
        client.delete_registered_model_alias(name, alias)
    return AliasRemoved(name=name, alias=alias, version=int(version))


def set_description(ref: str, text: str, settings: Settings | None = None, *,
                    actor: str | None = None) -> VersionDetail:
    """The user's description of a version; kept in MLflow, so it survives ModelDoc rebuilds."""
    settings = settings or get_settings()
    model_ref = parse_ref(ref)
    client = mlflow_client(settings)
    version = resolve_version(model_ref, client)
    with session_scope(settings) as session:
        record_event(
            session, actor=actor or settings.user, action="description_set", model_name=model_ref.name,
            model_version=int(version.version), details={"length": len(text)},
        )
        client.update_model_version(model_ref.name, version.version, description=text)
    return show_version(ModelRef(model_ref.name, int(version.version)), settings)


def download_model_dir(ref: str | ModelRef, dst: Path, settings: Settings | None = None) -> Path:
    """Copy a version's whole model directory (local or S3 artifact root) into ``dst``."""
    import mlflow.artifacts

    ref = parse_ref(ref) if isinstance(ref, str) else ref
    client = mlflow_client(settings)
    version = resolve_version(ref, client)
    location = client.get_logged_model(model_id_of(version)).artifact_location
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(dst)))
