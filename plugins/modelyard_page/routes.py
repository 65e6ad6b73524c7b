"""The JSON API of the Models page (its contract: ``plugins/README.md``).

Handlers are plain functions FastAPI runs in its thread pool: each reads the settings, calls
one service function with the acting user, and returns its typed result.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from airflow.api_fastapi.core_api.security import GetUserDep
from modelyard_page.security import can_change, change, role_of
from modelyard_page.workflows import InProcessWorkflows
from registry.challenge_modes import Mode
from registry.runtimes import RuntimeRequest
from registry.scoring_options import BATCH_SCORING_DAG, OutputFormat, ScoringPolicy

router = APIRouter()
SCORING_DAG = re.compile(r"^(batch_scoring|score__[A-Za-z0-9_\-]+)$")


def _settings():
    from registry.settings import get_settings

    return get_settings()


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeployBody(Body):
    ref: str = Field(min_length=1, description="A version number or an alias of the model")
    port: int | None = Field(default=None, ge=1, le=65535)
    replicas: int | None = Field(default=None, ge=1, le=16, description="Servers behind the endpoint")
    runtime: RuntimeRequest = Field(default="auto", description="auto: compiled where faster and at parity")


class ChallengeBody(Body):
    ref: str = Field(min_length=1, description="The challenger: a version number or an alias")
    mode: Mode = "shadow"
    percent: float = Field(default=100.0, gt=0, le=100)
    sticky_header: str | None = Field(default=None, max_length=200)
    replicas: int | None = Field(default=None, ge=1, le=16)
    rule: dict[str, Any] = Field(default_factory=dict, description="Bounds over the defaults (registry.challenges.Rule)")


class DescriptionBody(Body):
    description: str = Field(max_length=20_000)


class AliasBody(Body):
    version: int = Field(ge=1)


class AssociationBody(Body):
    model_ref: str = Field(min_length=1)
    workflow: str = BATCH_SCORING_DAG
    schedule: str | None = None
    input_path: str
    output_path: str
    policy: ScoringPolicy = "fail"
    output_format: OutputFormat = "parquet"
    key_columns: list[str] | None = None
    name: str | None = None


class ExpectationBody(Body):
    expectation_type: str = Field(min_length=1)
    kwargs: dict[str, Any] = {}


class LabelRow(Body):
    request_id: str = Field(min_length=1, description="The x-request-id the deployment answered with")
    label: int | float | str = Field(description="The true value: a class or a number")
    row: int | None = Field(default=None, ge=0, description="The row within a request of several rows")


class LabelsBody(Body):
    labels: list[LabelRow] = Field(min_length=1, max_length=100_000)


# --- reading ------------------------------------------------------------------------------

@router.get("/whoami")
def whoami(user: GetUserDep) -> dict[str, Any]:
    return {"user": user.get_name(), "role": role_of(user), "can_change": can_change(user)}


@router.get("/models")
def models(user: GetUserDep) -> dict[str, Any]:
    from registry.overview import model_rows

    from modelyard_page.monitoring import summaries

    settings = _settings()
    rows = model_rows(settings=settings)
    health = summaries(settings, {row.name: row.deployment for row in rows})
    return {"models": [{**row.model_dump(mode="json"), "monitoring": health[row.name].model_dump(mode="json")}
                       for row in rows], "total": len(rows)}


@router.get("/models/{name}")
def model(name: str, user: GetUserDep) -> dict[str, Any]:
    from registry.overview import model_detail

    return model_detail(name, settings=_settings()).model_dump(mode="json")


@router.get("/models/{name}/monitoring")
def monitoring(name: str, user: GetUserDep) -> dict[str, Any]:
    from modelyard_page.monitoring import model_monitoring
    from registry.deployments import list_deployments

    settings = _settings()
    _known(name, settings)
    running = [d for d in list_deployments(settings=settings, live=False, model_name=name) if d.status == "running"]
    answer = model_monitoring(settings, name, running[0] if running else None)
    thresholds = answer["thresholds"]  # a webhook URL is a credential: shown to those who may change it
    thresholds["webhook_url_set"] = thresholds["webhook_url"] is not None
    if not can_change(user):
        thresholds["webhook_url"] = None
    return answer


@router.get("/models/{name}/challenge")
def challenge(name: str, user: GetUserDep) -> dict[str, Any]:
    from modelyard_page.challenges import model_challenge

    settings = _settings()
    _known(name, settings)
    return model_challenge(settings, name)


@router.get("/models/{name}/versions/{version}/plots/{plot}.png")
def plot(name: str, version: int, plot: str, user: GetUserDep) -> Response:
    from registry.catalog import plot_png
    from registry.refs import ModelRef

    png = plot_png(ModelRef(name, version), plot, settings=_settings())
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get("/models/{name}/versions/{ref}/modeldoc")
def modeldoc(name: str, ref: str, user: GetUserDep, format: Literal["html", "md", "json"] = "html",
             download: bool = False) -> Response:
    from registry.refs import model_ref
    from registry.modeldoc import build_modeldoc, render_modeldoc

    doc = build_modeldoc(model_ref(name, ref), _settings())
    media = {"html": "text/html", "md": "text/markdown", "json": "application/json"}[format]
    headers = {"Content-Disposition": f'attachment; filename="{name}-v{doc.model.version}-modeldoc.{format}"'} \
        if download else {}
    return Response(render_modeldoc(doc, format), media_type=media, headers=headers)


@router.get("/models/{name}/versions/{ref}/download")
def download(name: str, ref: str, user: GetUserDep) -> FileResponse:
    from registry.refs import model_ref
    from registry.download import download_model

    scratch = Path(tempfile.mkdtemp(prefix="modelyard-download-"))
    try:
        result = download_model(str(model_ref(name, ref)), scratch, _settings(), actor=user.get_name())
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return FileResponse(result.path, media_type="application/zip", filename=result.path.name,
                        background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True))


@router.get("/workflow-runs/{dag_id}/{run_id:path}")
def workflow_run(dag_id: str, run_id: str, user: GetUserDep) -> dict[str, Any]:
    from bento_services import chain
    from bento_services.serving_requests import serving_run
    from registry.errors import InvalidFieldError
    from registry.workflows import follow_scoring

    from modelyard_page.monitoring import MONITOR_DAG
    from registry.workflows import follow

    workflows = InProcessWorkflows(user.get_name())
    if dag_id in (MONITOR_DAG, chain.CHALLENGE_DAG):
        return follow(workflows, dag_id, run_id).model_dump(mode="json")
    if dag_id in (chain.DEPLOY_DAG, chain.ROLLBACK_DAG, chain.UNDEPLOY_DAG):
        return serving_run(workflows, dag_id, run_id, settings=_settings()).model_dump(mode="json")
    if not SCORING_DAG.match(dag_id):
        raise InvalidFieldError(f"{dag_id!r} is not a Modelyard workflow", field="dag_id")
    return follow_scoring(workflows, dag_id, run_id, settings=_settings()).model_dump(mode="json")


@router.get("/schedules/preview")
def schedule_preview(user: GetUserDep, cron: str = Query(default="")) -> dict[str, Any]:
    from registry.associations import next_runs
    from registry.errors import ModelyardError

    try:
        return {"valid": True, "next_runs": [when.isoformat() for when in next_runs(cron or None, 3)], "error": None}
    except ModelyardError as error:
        return {"valid": False, "next_runs": [], "error": str(error)}


@router.get("/workflows")
def workflows(user: GetUserDep) -> dict[str, Any]:
    from registry.associations import WORKFLOWS
    from registry.scoring_options import FORMATS, POLICIES

    return {"workflows": list(WORKFLOWS), "policies": list(POLICIES), "formats": list(FORMATS),
            "data_roots": _settings().data_roots}


# --- changing -----------------------------------------------------------------------------

@router.post("/models/{name}/deploy", status_code=202, dependencies=change("deploy"))
def deploy(name: str, body: DeployBody, user: GetUserDep) -> dict[str, Any]:
    from bento_services.serving_requests import request_deploy

    run = request_deploy(name, body.ref, port=body.port, replicas=body.replicas, runtime=body.runtime,
                         workflows=InProcessWorkflows(user.get_name()), settings=_settings())
    return run.model_dump(mode="json")


@router.post("/models/{name}/rollback", status_code=202, dependencies=change("rollback"))
def rollback(name: str, body: Body, user: GetUserDep) -> dict[str, Any]:
    from bento_services.serving_requests import request_rollback

    return request_rollback(name, workflows=InProcessWorkflows(user.get_name()),
                            settings=_settings()).model_dump(mode="json")


@router.post("/models/{name}/undeploy", status_code=202, dependencies=change("undeploy"))
def undeploy(name: str, body: Body, user: GetUserDep) -> dict[str, Any]:
    from bento_services.serving_requests import request_undeploy

    return request_undeploy(name, workflows=InProcessWorkflows(user.get_name()),
                            settings=_settings()).model_dump(mode="json")


@router.post("/models/{name}/challenge", status_code=202, dependencies=change("challenge"))
def start_challenge(name: str, body: ChallengeBody, user: GetUserDep) -> dict[str, Any]:
    from bento_services.serving_requests import request_challenge

    run = request_challenge(name, body.ref, mode=body.mode, percent=body.percent,
                            sticky_header=body.sticky_header or None, rule=body.rule, replicas=body.replicas,
                            workflows=InProcessWorkflows(user.get_name()), settings=_settings())
    return run.model_dump(mode="json")


@router.post("/models/{name}/challenge/{decision}", status_code=202, dependencies=change("decide_challenge"))
def decide_challenge(name: str, decision: Literal["promote", "end"], body: Body, user: GetUserDep) -> dict[str, Any]:
    from bento_services.serving_requests import request_challenge_decision

    return request_challenge_decision(name, decision, workflows=InProcessWorkflows(user.get_name()),
                                      settings=_settings()).model_dump(mode="json")


@router.put("/models/{name}/versions/{version}/description", dependencies=change("describe"))
def describe(name: str, version: int, body: DescriptionBody, user: GetUserDep) -> dict[str, Any]:
    from registry.catalog import set_description
    from registry.refs import ModelRef

    settings = _settings()
    set_description(str(ModelRef(name, version)), body.description, settings, actor=user.get_name())
    return _version(name, version, settings)


@router.put("/models/{name}/aliases/{alias}", dependencies=change("alias"))
def alias(name: str, alias: str, body: AliasBody, user: GetUserDep) -> dict[str, Any]:
    from registry.catalog import set_alias
    from registry.refs import ModelRef

    settings = _settings()
    set_alias(str(ModelRef(name, body.version)), alias, settings, actor=user.get_name())
    return _version(name, body.version, settings)


@router.delete("/models/{name}/aliases/{alias}", dependencies=change("unalias"))
def unalias(name: str, alias: str, body: Body, user: GetUserDep) -> dict[str, Any]:
    from registry.catalog import remove_alias

    return remove_alias(name, alias, _settings(), actor=user.get_name()).model_dump(mode="json")


@router.post("/associations", status_code=201, dependencies=change("associate"))
def associate(body: AssociationBody, user: GetUserDep) -> dict[str, Any]:
    from registry.associations import create_association

    made = create_association(body.model_ref, workflow=body.workflow, input_path=body.input_path,
                              output_path=body.output_path, schedule=body.schedule, policy=body.policy,
                              name=body.name, output_format=body.output_format, key_columns=body.key_columns,
                              settings=_settings(), actor=user.get_name())
    workflows = InProcessWorkflows(user.get_name())
    workflows.revive_dag(made.dag_id)
    workflows.request_parse("associations.py")  # its DAG appears in seconds
    return made.model_dump(mode="json")


@router.delete("/associations/{name}", dependencies=change("dissociate"))
def dissociate(name: str, body: Body, user: GetUserDep) -> dict[str, Any]:
    from registry.associations import list_associations, remove_association

    settings = _settings()
    removed = remove_association(name, settings, actor=user.get_name())
    workflows = InProcessWorkflows(user.get_name())
    workflows.retire_dag(removed.dag_id,  # at once, not when the dag-processor next notices
                         still_removed=lambda: name not in {kept.name for kept in list_associations(settings=settings)})
    workflows.request_parse("associations.py")
    return removed.model_dump(mode="json")


@router.post("/associations/{name}/run", status_code=202, dependencies=change("run_association"))
def run_association(name: str, body: Body, user: GetUserDep) -> dict[str, Any]:
    from registry.associations import list_associations
    from registry.errors import ModelNotFoundError
    from registry.workflows import follow_scoring

    found = [association for association in list_associations(settings=_settings()) if association.name == name]
    if not found:
        raise ModelNotFoundError(f"no association named {name!r}", field="name")
    from datetime import datetime, timezone

    workflows = InProcessWorkflows(user.get_name())  # a logical date, as Airflow's own Trigger gives one: {{ ds }}
    run_id = workflows.trigger(found[0].dag_id, {}, logical_date=datetime.now(timezone.utc))
    return follow_scoring(workflows, found[0].dag_id, run_id, settings=_settings()).model_dump(mode="json")


@router.post("/models/{name}/expectations", status_code=201, dependencies=change("expect"))
def expect(name: str, body: ExpectationBody, user: GetUserDep) -> dict[str, Any]:
    from registry.expectations import attach_expectation

    return attach_expectation(name, body.expectation_type, body.kwargs, _settings(),
                              actor=user.get_name()).model_dump(mode="json")


@router.delete("/expectations/{expectation_id}", dependencies=change("unexpect"))
def unexpect(expectation_id: int, body: Body, user: GetUserDep) -> dict[str, Any]:
    from registry.expectations import remove_expectation

    return remove_expectation(expectation_id, _settings(), actor=user.get_name()).model_dump(mode="json")


@router.post("/models/{name}/labels", status_code=201, dependencies=change("add_labels"))
def labels(name: str, body: LabelsBody, user: GetUserDep) -> dict[str, Any]:
    import pandas as pd

    from pipelines.monitoring.labels import add_labels

    settings = _settings()
    _known(name, settings)
    frame = pd.DataFrame([row.model_dump() for row in body.labels], columns=["request_id", "label", "row"])
    return add_labels(settings, name, frame, user.get_name()).model_dump(mode="json")


@router.put("/models/{name}/monitoring/thresholds", dependencies=change("set_thresholds"))
def thresholds(name: str, body: dict[str, Any], user: GetUserDep) -> dict[str, Any]:
    from registry.errors import InvalidFieldError
    from registry.monitoring import set_thresholds

    settings = _settings()
    _known(name, settings)
    if not body:
        raise InvalidFieldError("name at least one threshold to change", field="thresholds")
    return set_thresholds(settings, name, body, actor=user.get_name()).model_dump(mode="json")


@router.post("/models/{name}/monitoring/run", status_code=202, dependencies=change("run_monitoring"))
def run_monitoring(name: str, body: Body, user: GetUserDep) -> dict[str, Any]:
    from modelyard_page.monitoring import MONITOR_DAG
    from registry.workflows import follow

    _known(name, _settings())
    workflows = InProcessWorkflows(user.get_name())
    run_id = workflows.trigger(MONITOR_DAG, {"model": name})
    return follow(workflows, MONITOR_DAG, run_id).model_dump(mode="json")


def _known(name: str, settings) -> None:
    """A 404 naming ``name`` for a model the registry does not have."""
    from registry.store import mlflow_client, require_registered

    require_registered(mlflow_client(settings), name)


def _version(name: str, version: int, settings) -> dict[str, Any]:
    from registry.catalog import list_versions

    return next(v for v in list_versions(name, settings=settings) if v.version == version).model_dump(mode="json")



