"""Asking for a deploy, a rollback, an undeploy or a challenge as a workflow run, and following that run.

A front that must not host model servers itself (the Models page runs in the api-server; under
compose only the serving worker may) triggers the serving DAGs through a ``Workflows`` object,
as the user who acts. What a user can fix is checked first, so a bad request is refused at once
with the field to blame instead of failing a run a minute later. ``serving_run`` follows a run
and adds what it made: the deployment with its URL and a ready-to-copy ``curl`` line, what an
undeploy stopped, freed and removed, or the step that failed and why (the previous deployment
is still serving then).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from bento_services import chain, endpoints
from bento_services.steps import NoDeploymentError, Undeployed, rollback_target
from registry.deployments import DeploymentInfo, for_request, running
from registry.errors import InvalidFieldError, ModelyardError
from registry.refs import ModelRef, model_ref
from registry.settings import Settings
from registry.workflows import StepFailure, WorkflowRun, Workflows, follow

_RECORDED_FAILURE = re.compile(r"^step '(?P<step>[^']+)': (?P<reason>.*)$", re.DOTALL)


def request_deploy(name: str, ref: str, *, port: int | None, workflows: Workflows, settings: Settings,
                   replicas: int | None = None, runtime: str = "auto") -> WorkflowRun:
    """Trigger ``deploy_model`` for the version ``ref`` means now (pinned here, so the run serves
    what the user picked even if the alias moves meanwhile)."""
    from registry.store import mlflow_client, resolve_version

    wanted = model_ref(name, ref)
    try:
        version = int(resolve_version(wanted, mlflow_client(settings)).version)
    except ModelyardError as error:
        error.field = error.field if error.field and error.field != "name" else "ref"
        raise
    endpoints.endpoint_port(name, port, settings)  # a taken port, before minutes of work
    conf = {"model_ref": str(ModelRef(name, version)), "port": port or 0, "replicas": replicas or 0, "runtime": runtime}
    return serving_run(workflows, chain.DEPLOY_DAG, workflows.trigger(chain.DEPLOY_DAG, conf), settings=settings)


def request_rollback(name: str, *, workflows: Workflows, settings: Settings) -> WorkflowRun:
    """Trigger ``rollback_model`` once there is a version to roll back to."""
    rollback_target(name, settings)
    run_id = workflows.trigger(chain.ROLLBACK_DAG, {"model_name": name})
    return serving_run(workflows, chain.ROLLBACK_DAG, run_id, settings=settings)


def request_undeploy(name: str, *, workflows: Workflows, settings: Settings) -> WorkflowRun:
    """Trigger ``undeploy_model`` for a model that has a running deployment."""
    if not running(name, settings=settings):
        raise NoDeploymentError(f"model {name!r} has no running deployment")
    run_id = workflows.trigger(chain.UNDEPLOY_DAG, {"model_name": name})
    return serving_run(workflows, chain.UNDEPLOY_DAG, run_id, settings=settings)


def serving_run(workflows: Workflows, dag_id: str, run_id: str, *, settings: Settings) -> WorkflowRun:
    """The run's steps, plus the deployment it made or the step it failed at."""
    run = follow(workflows, dag_id, run_id)
    made = for_request(run_id, settings=settings)
    if made is not None and made.status == "failed":
        recorded = _RECORDED_FAILURE.match(made.status_reason or "")
        failure = StepFailure(step=recorded["step"], reason=recorded["reason"]) if recorded else \
            StepFailure(step="?", reason=made.status_reason or "")
        return run.model_copy(update={"failure": failure})
    if run.state == "failed":
        failed = next((step.name for step in run.steps if step.state == "failed"), "?")
        return run.model_copy(update={"failure": StepFailure(
            step=failed, reason="the task failed before recording a deployment: its log in Airflow says why")})
    if dag_id == chain.UNDEPLOY_DAG and run.state == "success":
        undone = _undeployed_by(run_id, settings)
        return run.model_copy(update={"undeployed": undone.model_dump(mode="json") if undone else None})
    if made is not None and run.state == "success":
        return run.model_copy(update={"deployment": _with_curl(made, settings)})
    return run


def _undeployed_by(run_id: str, settings: Settings) -> Undeployed | None:
    """What the undeploy run ``run_id`` did, as its ``undeployed`` event recorded it."""
    from sqlalchemy import select

    from registry.deployments import info_of
    from registry.metadata.db import session_scope
    from registry.metadata.tables import Deployment, Event

    with session_scope(settings) as session:
        recent = session.scalars(select(Event).where(Event.action == "undeployed").order_by(Event.id.desc()).limit(200))
        event = next((event for event in recent if event.details.get("request_id") == run_id), None)
        row = session.get(Deployment, event.details["deployment_id"]) if event else None
        if row is None:
            return None
        return Undeployed(deployment=info_of(row, healthy=None), freed_port=event.details.get("freed_port"),
                          production_removed_from=event.details.get("production_removed_from"))


def _with_curl(deployment: DeploymentInfo, settings: Settings) -> dict[str, Any]:
    """The deployment as JSON, plus a ``curl`` line that asks it the model's input example."""
    from registry.catalog import input_example

    example = input_example(ModelRef(deployment.model_name, deployment.model_version), settings=settings)
    body = json.dumps(example if example is not None else [{}])
    curl = (f"curl -s -X POST {deployment.url}/predict -H 'Content-Type: application/json' "
            f"-d {shlex.quote(body)}")
    return {**deployment.model_dump(mode="json"), "curl": curl}


def request_challenge(name: str, ref: str, *, mode: str, percent: float, sticky_header: str | None,
                      rule: dict[str, Any], workflows: Workflows, settings: Settings,
                      replicas: int | None = None) -> WorkflowRun:
    """Trigger ``challenge_model`` (start) once what a user can fix is checked: the mode and share,
    the rule, a running champion, a version other than it, no challenge already active."""
    from bento_services.challenges import refuse_second
    from registry.challenges import check_challenge_request, rule_from
    from registry.store import mlflow_client, resolve_version

    check_challenge_request(mode, percent, sticky_header)
    rule_from(rule)
    champion = running(name, settings=settings)
    if not champion:
        raise NoDeploymentError(f"model {name!r} has no running deployment to challenge")
    version = int(resolve_version(model_ref(name, ref), mlflow_client(settings)).version)
    if version == champion[0].model_version:
        raise InvalidFieldError(f"version {version} of {name!r} is the champion already", field="ref")
    refuse_second(name, settings)
    conf = {"model_name": name, "action": "start", "version": str(version), "mode": mode, "percent": percent,
            "sticky_header": sticky_header, "replicas": replicas, "rule": rule}
    return follow(workflows, chain.CHALLENGE_DAG, workflows.trigger(chain.CHALLENGE_DAG, conf))


def request_challenge_decision(name: str, action: str, *, workflows: Workflows, settings: Settings) -> WorkflowRun:
    """Trigger ``challenge_model`` to promote the active challenger or end its challenge."""
    from bento_services.challenges import require_active

    require_active(name, settings)
    run_id = workflows.trigger(chain.CHALLENGE_DAG, {"model_name": name, "action": action})
    return follow(workflows, chain.CHALLENGE_DAG, run_id)

