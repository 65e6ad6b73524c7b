"""Airflow DAG runs as Modelyard's fronts use them: start one for a user, follow its steps.

The scoring and serving workflows are Airflow DAGs. A front starts and follows them through a
``Workflows`` object: ``infra.airflow_rest.AirflowRest`` speaks the REST API v2 as one user (the
CLI, the demo, the tests); inside the api-server, the Models page passes its own in-process
implementation, which acts as the user behind the request. ``follow`` turns either into a
``WorkflowRun`` whose steps are the DAG's tasks in order, under their display names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import BaseModel, computed_field

from infra.airflow_rest import FINAL_RUN_STATES, RunRecord, TaskRecord


class StepState(BaseModel):
    """One task of a run: its id, the name shown for it, and Airflow's state (None: not yet)."""

    name: str
    label: str
    state: str | None


class StepFailure(BaseModel):
    step: str
    reason: str


class WorkflowRun(BaseModel):
    """A DAG run as a front shows it; serving runs add the deployment they made or why they failed."""

    dag_id: str
    run_id: str
    state: str
    steps: list[StepState]
    requested_by: str | None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    deployment: dict[str, Any] | None = None
    undeployed: dict[str, Any] | None = None  # what an undeploy stopped, freed and removed
    failure: StepFailure | None = None
    scoring_run: dict[str, Any] | None = None  # a scoring run's record (``ScoringRunInfo``) once it has one

    @computed_field
    @property
    def airflow_url(self) -> str:
        """The run's page in the Airflow UI, relative to its base URL."""
        return f"dags/{quote(self.dag_id, safe='')}/runs/{quote(self.run_id, safe='')}"

    @property
    def finished(self) -> bool:
        return self.state in FINAL_RUN_STATES


class Workflows(Protocol):
    """Starting and reading DAG runs, as one acting user."""

    def trigger(self, dag_id: str, conf: dict[str, Any], *, logical_date: datetime | None = None) -> str:
        """Start a run now; returns its run id. A ``logical_date`` gives its templates ``{{ ds }}``."""

    def run(self, dag_id: str, run_id: str) -> RunRecord: ...

    def tasks(self, dag_id: str) -> list[TaskRecord]: ...

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]: ...


def follow(workflows: Workflows, dag_id: str, run_id: str) -> WorkflowRun:
    """The run with each of its DAG's tasks, upstream first, and the state each has reached."""
    record = workflows.run(dag_id, run_id)
    states = workflows.task_states(dag_id, run_id)
    steps = [StepState(name=task.task_id, label=task.label, state=_state_of(task.task_id, states))
             for task in _in_order(workflows.tasks(dag_id))]
    return WorkflowRun(dag_id=dag_id, run_id=run_id, state=record.state, steps=steps,
                       requested_by=record.triggered_by, started_at=record.started_at, ended_at=record.ended_at)


def follow_scoring(workflows: Workflows, dag_id: str, run_id: str, *, settings) -> WorkflowRun:
    """A scoring DAG run, with what it recorded (rows in, scored, rejected, the output path)."""
    from registry.scoring_runs import scoring_run_of

    recorded = scoring_run_of(dag_id, run_id, settings=settings)
    return follow(workflows, dag_id, run_id).model_copy(
        update={"scoring_run": recorded.model_dump(mode="json") if recorded else None})


# A mapped task's instances, read as one step: the first state of this list any of them is in.
_MAPPED_PRECEDENCE = ("failed", "upstream_failed", "running", "restarting", "up_for_retry", "up_for_reschedule",
                      "deferred", "queued", "scheduled", None, "success", "skipped", "removed")


def _state_of(task_id: str, states: dict[str, str | None]) -> str | None:
    """A task's state; for a mapped task (instances keyed ``task_id[i]``) the state of its instances
    together: failed if one failed, running while one runs, success once all are done."""
    if task_id in states:
        return states[task_id]
    mapped = {state for key, state in states.items() if key.startswith(f"{task_id}[")}
    if None in mapped and len(mapped) > 1:  # some instances done or going, others still to start
        mapped.discard(None)
        mapped.add("running")
    return next((state for state in _MAPPED_PRECEDENCE if state in mapped), None)


def _in_order(tasks: list[TaskRecord]) -> list[TaskRecord]:
    """Topological order, ties by task id, so a chain reads build -> ... -> promote."""
    by_id = {task.task_id: task for task in tasks}
    waiting = {task.task_id: 0 for task in tasks}
    for task in tasks:
        for child in task.downstream:
            waiting[child] = waiting.get(child, 0) + 1
    ready = sorted(task_id for task_id, count in waiting.items() if count == 0)
    ordered = []
    while ready:
        task = by_id[ready.pop(0)]
        ordered.append(task)
        for child in task.downstream:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready = sorted([*ready, child])
    return ordered
