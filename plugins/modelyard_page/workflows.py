"""DAG runs from inside the api-server, for the user behind the request (``registry.workflows``).

Runs are created with Airflow's own trigger (``triggering_user_name`` is the acting user, as
the REST API records it) and read from Airflow's database; nothing here calls the REST API over
HTTP, which from inside the api-server would wait on itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from infra.airflow_rest import RunRecord, TaskRecord
from registry.errors import ConflictError, ModelNotFoundError, ModelyardError

DAGS_BUNDLE = "dags-folder"


class InProcessWorkflows:
    def __init__(self, actor: str):
        self.actor = actor

    def trigger(self, dag_id: str, conf: dict[str, Any], *, logical_date: datetime | None = None) -> str:
        from airflow._shared.timezones import timezone
        from airflow.api.common.trigger_dag import trigger_dag
        from airflow.exceptions import DagNotFound, ParamValidationError
        from airflow.models import DagModel
        from airflow.utils.session import create_session
        from airflow.utils.types import DagRunTriggeredByType

        with create_session() as session:
            found = session.get(DagModel, dag_id)
            if found is None or found.is_stale:
                raise ConflictError(f"the DAG {dag_id!r} is not parsed yet: Airflow's dag-processor has not seen it")
            if found.is_paused:
                raise ConflictError(f"the DAG {dag_id!r} is paused: unpause it in Airflow first")
        try:
            run = trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.REST_API, triggering_user_name=self.actor,
                              conf=conf, run_after=timezone.utcnow(), logical_date=logical_date)
        except DagNotFound as error:
            raise ConflictError(f"the DAG {dag_id!r} is not parsed yet: {error}") from error
        except ParamValidationError as error:
            raise ModelyardError(f"the DAG {dag_id!r} refused its parameters: {error}") from error
        return run.run_id

    def run(self, dag_id: str, run_id: str) -> RunRecord:
        from sqlalchemy import select

        from airflow.models import DagRun
        from airflow.utils.session import create_session

        with create_session() as session:
            run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).first()
            if run is None:
                raise ModelNotFoundError(f"DAG {dag_id!r} has no run {run_id!r}", field="run_id")
            return RunRecord(state=str(run.state), triggered_by=run.triggering_user_name, started_at=run.start_date,
                             ended_at=run.end_date, conf=run.conf or {})

    def tasks(self, dag_id: str) -> list[TaskRecord]:
        from airflow.models.dagbag import DBDagBag
        from airflow.utils.session import create_session

        with create_session() as session:
            dag = DBDagBag().get_latest_version_of_dag(dag_id, session=session)
        if dag is None:
            raise ModelNotFoundError(f"no DAG {dag_id!r}", field="dag_id")
        return [TaskRecord(task_id=task.task_id, label=task.task_display_name or task.task_id,
                           downstream=sorted(task.downstream_task_ids)) for task in dag.tasks]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        from sqlalchemy import select

        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.execute(select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state)
                                   .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)).all()
        return {task_id + (f"[{index}]" if index >= 0 else ""): (str(state) if state else None)
                for task_id, index, state in rows}

    def request_parse(self, relative_fileloc: str) -> None:
        """Ask the dag-processor to parse a DAG file next (a new association's DAG appears in seconds)."""
        import hashlib

        from airflow.models.dagbag import DagPriorityParsingRequest
        from airflow.utils.session import create_session

        key = hashlib.md5(f"{DAGS_BUNDLE}:{relative_fileloc}".encode()).hexdigest()  # the table's own id
        with create_session() as session:
            if session.get(DagPriorityParsingRequest, key) is None:
                session.add(DagPriorityParsingRequest(bundle_name=DAGS_BUNDLE, relative_fileloc=relative_fileloc))

    def retire_dag(self, dag_id: str, *, still_removed: Callable[[], bool], follow_for: float = 20.0) -> None:
        """Take a removed association's DAG out of Airflow at once: paused (no run of it starts)
        and stale (gone from the DAG list). Its past runs stay in Airflow's history.

        A parse that read the snapshot just before the removal can land just after it and list
        the DAG again; Airflow itself would only retire it ``stale_dag_threshold`` (50 s) later.
        So for ``follow_for`` seconds a thread retires it again when such a parse brings it back
        while the association is ``still_removed()``."""
        from airflow._shared.timezones import timezone

        retired_at = timezone.utcnow()
        _retire(dag_id)
        threading.Thread(target=_keep_retired, args=(dag_id, retired_at, still_removed, follow_for),
                         name=f"retire-{dag_id}", daemon=True).start()

    def revive_dag(self, dag_id: str) -> None:
        """A new association took the name of a removed one: its DAG id comes back unpaused (the
        dag-processor makes it active when it parses it)."""
        from airflow.models import DagModel
        from airflow.utils.session import create_session

        with create_session() as session:
            found = session.get(DagModel, dag_id)
            if found is not None and found.is_stale:
                found.is_paused = False


def _retire(dag_id: str, *, parsed_after: datetime | None = None) -> bool:
    """Pause and stale the DAG (only if a parse after ``parsed_after`` listed it again, when given)."""
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        found = session.get(DagModel, dag_id)
        if found is None or (parsed_after is not None and (
                found.is_stale or found.last_parsed_time is None or found.last_parsed_time <= parsed_after)):
            return False
        found.is_paused = True
        found.is_stale = True
        return True


def _keep_retired(dag_id: str, retired_at: datetime, still_removed: Callable[[], bool], follow_for: float) -> None:
    import logging

    deadline = time.monotonic() + follow_for
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            if still_removed() and _retire(dag_id, parsed_after=retired_at):
                logging.getLogger(__name__).info("retired %s again: a parse of the old snapshot listed it", dag_id)
        except Exception:  # a daemon thread: a failed check is logged and the next one tries again
            logging.getLogger(__name__).exception("could not check the retired DAG %s", dag_id)
