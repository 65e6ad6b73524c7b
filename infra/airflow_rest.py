"""The Airflow REST API v2 calls Modelyard makes, as one user (the CLI, the platform, the tests).

Only the client and the records it reads; what a DAG run means to a front (its steps, its
deployment) is ``registry.workflows``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from infra.errors import ModelyardError
from infra.polling import poll

FINAL_RUN_STATES = frozenset({"success", "failed"})


class RunRecord(BaseModel):
    """What Airflow keeps of a run, whichever way it was read."""

    state: str
    triggered_by: str | None
    started_at: datetime | None
    ended_at: datetime | None
    conf: dict[str, Any]


class TaskRecord(BaseModel):
    task_id: str
    label: str
    downstream: list[str]


class AirflowApiError(ModelyardError):
    """The Airflow REST API answered with an error status."""

    def __init__(self, response: httpx.Response):
        self.status_code = response.status_code
        request = response.request
        super().__init__(f"{request.method} {request.url.path} -> {response.status_code}: {response.text[:1000]}")


class AirflowRest:
    """The REST API v2 calls Modelyard needs, as one user (a JWT from ``/auth/token``)."""

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 30.0):
        auth = _TokenAuth(f"{base_url}/auth/token", username, password)
        self.base_url = base_url
        self._client = httpx.Client(base_url=base_url, auth=auth, timeout=timeout)

    def __enter__(self) -> AirflowRest:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def trigger(self, dag_id: str, conf: dict | None = None, *, logical_date: datetime | None = None) -> str:
        """Start a run now and return its run_id; without a logical date runs never collide."""
        body = {"logical_date": logical_date.isoformat() if logical_date else None, "conf": conf or {}}
        return self._call("POST", f"/api/v2/dags/{_q(dag_id)}/dagRuns", json=body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> RunRecord:
        found = self._call("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")
        return RunRecord(state=found["state"], triggered_by=found.get("triggering_user_name"),
                         started_at=found.get("start_date"), ended_at=found.get("end_date"),
                         conf=found.get("conf") or {})

    def tasks(self, dag_id: str) -> list[TaskRecord]:
        found = self._call("GET", f"/api/v2/dags/{_q(dag_id)}/tasks")["tasks"]
        return [TaskRecord(task_id=task["task_id"], label=task.get("task_display_name") or task["task_id"],
                           downstream=task.get("downstream_task_ids") or []) for task in found]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """State of each task instance; mapped instances are keyed ``task_id[index]``."""
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances"
        return {
            instance["task_id"] + (f"[{instance['map_index']}]" if instance["map_index"] >= 0 else ""):
            instance["state"]
            for instance in self._pages(path, "task_instances")
        }

    def get(self, path: str, **params) -> dict:
        """Any GET of the REST API (``/api/v2/...``), its JSON answer."""
        return self._call("GET", path, params=params)

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.run(dag_id, run_id).state

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/api/v2/dags/{_q(dag_id)}", json={"is_paused": False})

    def pause(self, dag_id: str) -> bool:
        """Pause a DAG Airflow knows (True), so no run of it starts; False when it has none by that id."""
        response = self._client.patch(f"/api/v2/dags/{_q(dag_id)}", json={"is_paused": True})
        if response.status_code == 404:
            return False
        _raise_for_status(response)
        return True

    def dag_exists(self, dag_id: str) -> bool:
        response = self._client.get(f"/api/v2/dags/{_q(dag_id)}")
        if response.status_code == 404:
            return False
        _raise_for_status(response)
        return True

    def wait_for_dag(self, dag_id: str, timeout: float = 60.0) -> None:
        """Wait until the dag-processor has parsed the DAG; a timeout names the import errors."""
        if poll(lambda: self.dag_exists(dag_id) or None, timeout=timeout) is None:
            raise TimeoutError(f"DAG {dag_id!r} not parsed after {timeout}s; import errors: {self.import_errors()}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> str:
        """Wait until the run succeeds or fails and return that state; a timeout says where it stood."""
        def final_state() -> str | None:
            state = self.run_state(dag_id, run_id)
            return state if state in FINAL_RUN_STATES else None

        state = poll(final_state, timeout=timeout)
        if state is None:
            raise TimeoutError(f"run {run_id} of {dag_id} still {self.run_state(dag_id, run_id)!r} after "
                               f"{timeout}s; tasks: {self.task_states(dag_id, run_id)}")
        return state

    def runs(self, dag_id: str) -> list[dict]:
        """Every run of the DAG (id, run_type, state, logical date), scheduled ones included."""
        return self._pages(f"/api/v2/dags/{_q(dag_id)}/dagRuns", "dag_runs")

    def import_errors(self) -> dict[str, str]:
        """DAG files that failed to parse, with the error of each."""
        errors = self._pages("/api/v2/importErrors", "import_errors")
        return {error["filename"]: error["stack_trace"] for error in errors}

    def _pages(self, path: str, key: str, limit: int = 100) -> list[dict]:
        items: list[dict] = []
        while True:
            page = self._call("GET", path, params={"limit": limit, "offset": len(items)})
            items += page[key]
            if not page[key] or len(items) >= page["total_entries"]:
                return items

    def _call(self, method: str, path: str, **kw) -> dict:
        response = self._client.request(method, path, **kw)
        _raise_for_status(response)
        return response.json()


class _TokenAuth(httpx.Auth):
    """Bearer JWT from the auth manager, fetched on first use and again when it expires."""

    requires_response_body = True

    def __init__(self, token_url: str, username: str, password: str):
        self._token_url = token_url
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None

    def auth_flow(self, request: httpx.Request):
        if self._token is None:
            self._token = yield from self._fetch_token()
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            self._token = yield from self._fetch_token()
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    def _fetch_token(self):
        response = yield httpx.Request("POST", self._token_url, json=self._credentials)
        _raise_for_status(response)
        return response.json()["access_token"]


def _raise_for_status(response: httpx.Response) -> None:
    if response.is_error:
        raise AirflowApiError(response)


def _q(part: str) -> str:
    """Run ids contain ``+`` and ``:``: quote path parts so they reach Airflow unchanged."""
    return quote(part, safe="")
