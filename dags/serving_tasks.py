"""Task bodies of the serving DAGs: one task per serving step. Not a DAG file (see .airflowignore).

Each task runs ``bento_services.steps.run_step`` under its step's name on what the task before
it returned (JSON over XCom), acting for the user who triggered the run and recording the run
id, so the Models page can find the deployment a run made or why it failed. A failed step has
stopped what it started and recorded itself: it fails for good, never retried.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pendulum
from airflow.sdk import dag, get_current_context, task

from bento_services import chain
from modelyard_tasks import acting_user

SERVING_QUEUE = os.environ.get("MODELYARD_SERVING_QUEUE", "default")  # parse time: no Settings import
SERVING_DEFAULTS = {"owner": "modelyard", "retries": 0, "queue": SERVING_QUEUE}


def serving_dag(dag_id: str, doc: str, params: dict):
    """What every serving DAG shares: run only when triggered (by the Models page, the CLI or a
    user), never caught up, its tasks on the serving queue without retries, its Params as values."""
    return dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
               doc_md=doc, tags=["modelyard", "serving"], default_args=SERVING_DEFAULTS, params=params,
               render_template_as_native_obj=True)


def serving_chain(steps: Sequence[str], first, *, action: str = "deployed", swap: str | None = None):
    """The steps as a line of tasks, the first taking ``first`` (a templated param). ``swap``
    (``deploy`` or ``rollback``): a task before them loads the version into the model's warm spares
    (``bento_services.swaps``) and, when it does, the steps are skipped."""
    value = first
    gate = _swap_task(swap, action)(first) if swap else None
    for name in steps:
        value = _step_task(name, action)(value)
        if gate is not None:
            gate >> value
            gate = None
    return value


def _context(action: str):
    from bento_services.steps import DeployContext
    from registry.settings import get_settings

    context = get_current_context()
    return DeployContext(settings=get_settings(), actor=acting_user(context), request_id=context["run_id"],
                         port=context["params"].get("port") or None,
                         replicas=context["params"].get("replicas") or None,
                         runtime=context["params"].get("runtime") or "auto", action=action)


def _step_task(name: str, action: str):
    @task(task_id=name, task_display_name=chain.LABELS[name])
    def step(value):
        from airflow.sdk.exceptions import AirflowFailException

        from bento_services.steps import run_step
        from registry.errors import ModelyardError

        try:
            return run_step(name, value, _context(action)).model_dump(mode="json")
        except ModelyardError as error:
            raise AirflowFailException(str(error)) from error

    step.__doc__ = f"The serving step `{name}` (bento_services.steps.{name})."
    return step


def _swap_task(kind: str, action: str):
    @task.short_circuit(task_id=chain.SWAP, task_display_name=chain.LABELS[chain.SWAP])
    def swap(value) -> bool:
        """Serve the version from the model's warm spares; False when it did (the steps after are skipped)."""
        from airflow.sdk.exceptions import AirflowFailException

        from bento_services import swaps
        from registry.errors import ModelyardError

        try:
            info = swaps.swap_rollback(value, _context(action)) if kind == "rollback" else \
                swaps.swap(value, _context(action))
        except ModelyardError as error:
            raise AirflowFailException(str(error)) from error
        return info is None

    return swap
