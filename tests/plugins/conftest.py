"""The platform as a user meets it: the embedded Airflow with the Models page, one login per role.

One session-wide stack (scheduler, dag-processor, api-server with the plugin) on a home of its
own, shared by the API tests and the browser tests; whatever it deploys is undeployed by PID.
The viewer is a login added as a team's would be (``modelyard users add``, before the stack
starts); the other roles come through ``airflow.start(users=...)``.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest

from stack import airflow, logins
from registry import processes
from registry.settings import Settings
from registry.workflows import AirflowRest
from tests.servers import free_port

MODEL = "diabetes_regressor"
ROLES = {"viewer1": "viewer", "user1": "user", "op1": "op", "admin1": "admin"}


@dataclass
class Platform:
    settings: Settings
    stack: airflow.AirflowStack
    passwords: dict[str, str]

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    def token(self, user: str) -> str:
        response = httpx.post(f"{self.base_url}/auth/token", json={"username": user, "password": self.passwords[user]})
        response.raise_for_status()
        return response.json()["access_token"]

    def client(self, user: str | None) -> httpx.Client:
        """A client of the Models API as ``user`` (None: no login at all)."""
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        return httpx.Client(base_url=f"{self.base_url}/modelyard/api", headers=headers, timeout=60.0)

    def rest(self, user: str = "admin1") -> AirflowRest:
        return AirflowRest(self.base_url, user, self.passwords[user])

    def wait_run(self, client: httpx.Client, run: dict, timeout: float = 400.0) -> dict:
        """Poll a workflow run as the page does, until it succeeds or fails."""
        import time

        deadline = time.monotonic() + timeout
        while run["state"] not in ("success", "failed"):
            assert time.monotonic() < deadline, f"run still {run['state']}: {run}"
            time.sleep(1.0)
            response = client.get(f"/workflow-runs/{run['dag_id']}/{quote(run['run_id'], safe='')}")
            assert response.status_code == 200, response.text
            run = response.json()
        return run


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    """Two versions of the diabetes model and one of the breast cancer model, behind a running stack."""
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path_factory.mktemp("platform"))
    for name in (MODEL, MODEL, "breast_cancer_classifier"):
        train_demo_model(DEMO_MODELS[name], settings)
    viewers = {name for name, role in ROLES.items() if role == "viewer"}
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(airflow.SQL_CONN_VAR, raising=False)  # its own database, not the one dag.test() writes
        for name in viewers:
            assert logins.add_login(settings, name, "viewer").api_server == "not running"
        stack = airflow.start(settings, api_port=free_port(), timeout=240,
                              users={name: role for name, role in ROLES.items() if name not in viewers})
    platform = Platform(settings, stack, airflow.passwords(settings))
    try:
        with platform.rest() as rest:
            for dag_id in ("deploy_model", "rollback_model", "undeploy_model", "batch_scoring"):
                rest.wait_for_dag(dag_id, timeout=180)
        yield platform
    finally:
        _undeploy_everything(settings)
        stack.stop()


@pytest.fixture(autouse=True)
def _stack_stays_up(platform):
    """A component that dies fails the test it died in, saying how it ended and what it logged
    last, instead of every later test with 'connection refused'."""
    yield
    dead = [process for process in platform.stack.processes
            if processes.proc_stat(process.pid).get("state") in (None, "Z")]
    if dead:
        pytest.fail("\n".join(f"Airflow {process.name} (PID {process.pid}) {_how_it_ended(process.pid)}; "
                               f"its log ends:\n{processes.log_tail(process)}" for process in dead), pytrace=False)


def _how_it_ended(pid: int) -> str:
    """The exit status of a component this test process launched (reaped here, before anyone else)."""
    try:
        waited, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return "ended (its exit status was already collected)"
    if waited == 0:
        return "has not exited yet"
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def _undeploy_everything(settings: Settings) -> None:
    from bento_services.deploy import undeploy
    from registry.deployments import list_deployments

    for name in {row.model_name for row in list_deployments(settings=settings, live=False) if row.status == "running"}:
        undeploy(name, settings=settings)
