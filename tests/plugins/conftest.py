"""The platform as a user meets it: the embedded Airflow with the Models page, one login per role.

One session-wide stack (scheduler, dag-processor, api-server with the plugin) on a home of its
own, shared by the API tests and the browser tests; whatever it deploys is undeployed by PID.
The viewer is a login added as a team's would be (``modelyard users add``, before the stack
starts); the other roles come through ``airflow.start(users=...)``.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import pytest

from stack import airflow, logins
from infra import processes
from infra.airflow_rest import AirflowRest
from registry.settings import Settings
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

    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, user: str) -> str:
        """One login per user for the session, as a browser keeps its token: a password check under
        a busy machine can take seconds, and each test paying for it made the suite flaky."""
        if user not in self.tokens:
            response = httpx.post(f"{self.base_url}/auth/token", timeout=60.0,
                                  json={"username": user, "password": self.passwords[user]})
            response.raise_for_status()
            self.tokens[user] = response.json()["access_token"]
        return self.tokens[user]

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
    """Two versions of the diabetes model and one of the breast cancer model, behind a running stack
    whose deploys keep warm spares."""
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path_factory.mktemp("platform"), serve_spares=True)  # as a user's: warm swaps
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


DRIFTED = ("mean_radius", "mean_texture", "worst_area")
STABLE = ("mean_smoothness", "mean_symmetry", "worst_concavity")


def seed_monitoring(settings: Settings, name: str, *, windows: int = 8, drift_from: int = 5) -> list:
    """Hourly online windows ending at the last full hour, drift in ``DRIFTED`` from window
    ``drift_from`` on (with their alerts), labels on every window but the newest, and one batch
    scoring run's record; returns the records, oldest first. They replace the model's history:
    a scoring run of an earlier test on the shared platform (an association's Run now) would
    otherwise add a real batch window with all the model's features to what the tests count."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import delete

    from registry.metadata.db import session_scope
    from registry.metadata.tables import MonitoringRun
    from registry.monitoring import Alert, Figures, record_run

    with session_scope(settings) as session:
        session.execute(delete(MonitoringRun).where(MonitoringRun.model_name == name))
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    records = []
    for index in range(windows):
        drifting = index >= drift_from
        psi = {feature: (0.4 + 0.05 * index if drifting else 0.03 + 0.01 * index) for feature in DRIFTED}
        psi |= {feature: 0.02 + 0.005 * position for position, feature in enumerate(STABLE)}
        requests = 600 + 30 * index
        errors = 9 if index == windows - 1 else 1
        figures = Figures(
            requests=requests, rows=requests, errors=errors, error_rate=errors / requests,
            latency_p50_ms=4.0 + index * 0.2, latency_p99_ms=20.0 + index * 3, requests_per_min=requests / 60,
            feature_psi=psi, drifted_features=[f for f in DRIFTED if drifting], drifted_share=0.5 if drifting else 0.0,
            prediction_psi=0.3 if drifting else 0.02 + 0.01 * index, prediction_mix={"0": 0.37, "1": 0.63},
            labelled_rows=0 if index == windows - 1 else 120,
            metrics={} if index == windows - 1 else {"accuracy": 0.82 if drifting else 0.96,
                                                     "roc_auc": 0.88 if drifting else 0.99})
        alerts = [Alert(rule="feature_psi", message=f"{feature} drifted: PSI {psi[feature]:.2f} against training, line 0.25",
                        value=psi[feature], threshold=0.25, subject=feature) for feature in DRIFTED if drifting]
        alerts += [Alert(rule="drifted_share", message="3 of 6 features drifted (50%), line 30%", value=0.5,
                         threshold=0.3)] if drifting else []
        start = end - timedelta(hours=windows - index)
        records.append(record_run(settings, model_name=name, model_version=1, source="online", window_start=start,
                                  window_end=start + timedelta(hours=1), figures=figures, alerts=alerts))
    batch_end = end - timedelta(hours=windows // 2)
    records.insert(windows // 2, record_run(
        settings, model_name=name, model_version=1, source="batch", window_start=batch_end - timedelta(minutes=5),
        window_end=batch_end, figures=Figures(rows=5000, feature_psi={f: 0.05 for f in (*DRIFTED, *STABLE)}),
        alerts=[], scoring_run_id=f"{name}-seeded-batch"))
    return records
