"""The unchanged code on real services, chosen by environment variables alone.

The module starts, on loopback: PostgreSQL (Airflow's metadata, MLflow's backend, Modelyard's own
database), an S3 protocol server (artifacts, batch input and output), an MLflow tracking server
in front of them that every client reaches over HTTP, a Dask scheduler with two workers as
processes of their own, and Redis. Then ``modelyard up``, configured as a user would configure
it, starts Airflow with the CeleryExecutor: a worker for the default queue and one for the
serving queue, as in docker-compose.yaml, and the FAB auth manager. Through them: the Models
page's role checks under FAB, models registered, a batch_scoring run
on S3 data scored on the Dask workers, a deploy through the Models page's API that lands on the
serving worker and answers, a rollback, and a run that loses a Dask worker midway and still
commits once, with rows in = rows scored + rows rejected. No embedded default is left in the
path: the home holds no SQLite file and no local artifact.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from infra.airflow_rest import AirflowRest
from infra.processes import Process, proc_stat, session_members
from registry.settings import Settings
from tests.servers import Server, free_port

pytestmark = pytest.mark.timeout(1500)
MODELYARD = str(Path(sys.executable).parent / "modelyard")
BUCKET = "modelyard-real"
MODEL = "breast_cancer_classifier"
AWS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class RealServices:
    env: dict[str, str]  # what a user sets: MODELYARD_*, AIRFLOW__*, AWS_*
    settings: Settings
    dask_dashboard: str
    dask_workers: list[Server]
    versions: dict[str, str]

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.airflow_port}"

    def rest(self) -> AirflowRest:
        from stack.airflow import admin_password

        return AirflowRest(self.airflow_url, "admin", admin_password(self.settings))

    def modelyard(self, *args: str) -> str:
        result = subprocess.run([MODELYARD, *args], capture_output=True, text=True, env={**os.environ, **self.env},
                                timeout=900)
        assert result.returncode == 0, f"modelyard {' '.join(args)}:\n{result.stderr[-3000:]}"
        return result.stdout


def _version(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[0]


@pytest.fixture(scope="module")
def real(postgres, s3, tmp_path_factory, monkeypatch_module):
    from importlib.metadata import version as installed

    import boto3

    from stack.mlflow_server import command as mlflow_command
    from pipelines.scoring.cluster import scheduler_command, worker_command

    for key, value in AWS.items():
        monkeypatch_module.setenv(key, value)
    boto3.client("s3", endpoint_url=s3).create_bucket(Bucket=BUCKET)
    logs = tmp_path_factory.mktemp("real-services")
    databases = {name: postgres.create_database(f"real_{name}").replace("postgresql://", "postgresql+psycopg://")
                 for name in ("airflow", "mlflow", "modelyard")}
    servers: list[Server] = []
    try:
        redis_port = free_port()
        redis = Server(["/usr/bin/redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no"], logs / "redis.log")
        servers.append(redis)
        mlflow_port = free_port()
        mlflow = Settings(home=logs, tracking_uri=databases["mlflow"], artifact_root=f"s3://{BUCKET}/artifacts",
                          mlflow_port=mlflow_port)
        servers.append(Server(mlflow_command(mlflow), logs / "mlflow.log", env={
            "MLFLOW_S3_ENDPOINT_URL": s3, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}))
        dask_port, dashboard_port = free_port(), free_port()
        dask = f"tcp://127.0.0.1:{dask_port}"
        servers.append(Server(scheduler_command(dask_port, dashboard_port=dashboard_port), logs / "scheduler.log"))
        workers = [Server(worker_command(dask, nworkers=1), logs / f"worker-{n}.log") for n in (1, 2)]
        servers += workers
        env = {
            "MODELYARD_HOME": str(tmp_path_factory.mktemp("real-home")),
            "MODELYARD_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
            "MODELYARD_ARTIFACT_ROOT": f"s3://{BUCKET}/artifacts",
            "MODELYARD_S3_ENDPOINT_URL": s3,
            "MODELYARD_DATABASE_URL": databases["modelyard"],
            "MODELYARD_DASK_SCHEDULER": dask,
            "MODELYARD_SERVING_QUEUE": "serving",
            "MODELYARD_DATA_ROOTS": json.dumps([f"s3://{BUCKET}/data"]),
            "MODELYARD_AIRFLOW_PORT": str(free_port()),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": databases["airflow"],
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": databases["airflow"],
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + databases["airflow"],
            "AIRFLOW_CONN_DASK_DEFAULT": dask,
            **AWS,
        }
        for key, value in env.items():
            monkeypatch_module.setenv(key, value)
        redis.wait_until(lambda: _answers(["/usr/bin/redis-cli", "-p", str(redis_port), "ping"], "PONG"), "redis")
        servers[1].wait_http(f"http://127.0.0.1:{mlflow_port}/health", timeout=120)
        from distributed import Client

        with Client(dask, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        versions = {
            "postgres": _version([str(postgres.bin_dir / "postgres"), "--version"]),
            "redis": _version(["/usr/bin/redis-server", "--version"]),
            **{name: installed(name) for name in ("moto", "mlflow", "distributed", "apache-airflow", "celery")},
        }
        print("real services:", json.dumps(versions))
        yield RealServices(env, Settings(), f"http://127.0.0.1:{dashboard_port}", workers, versions)
    finally:
        subprocess.run([MODELYARD, "down", "--deployments"], env={**os.environ}, capture_output=True, timeout=300)
        for server in reversed(servers):
            server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _answers(command: list[str], expected: str) -> bool:
    return subprocess.run(command, capture_output=True, text=True).stdout.strip() == expected


def _s3_keys(prefix: str) -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=os.environ["MODELYARD_S3_ENDPOINT_URL"])
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _tasks_done(real: RealServices) -> float:
    import re

    text = httpx.get(f"{real.dask_dashboard}/metrics", timeout=5).text
    pattern = r'^dask_scheduler_prefix_state_totals_total\{state="memory",[^}]*\} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, re.M))


def test_up_starts_airflow_with_celery_workers_and_nothing_the_configuration_replaces(real):
    state = json.loads(real.modelyard("up", "--json"))
    services = {each["name"]: each for each in state["services"]}
    assert (services["mlflow"]["action"], services["mlflow"]["replaced_by"]) == ("replaced",
                                                                               real.env["MODELYARD_TRACKING_URI"])
    assert (services["dask"]["action"], services["dask"]["replaced_by"]) == ("replaced",
                                                                             real.env["MODELYARD_DASK_SCHEDULER"])
    airflow = {p["name"]: p for p in services["airflow"]["processes"]}
    assert set(airflow) == {"scheduler", "dag-processor", "triggerer", "api-server", "celery-worker",
                           "celery-serving-worker"}
    assert all(p["running"] for p in airflow.values()), airflow
    # Health is the components' heartbeats as the api-server reports them: under the suite's
    # load a heartbeat can lag or the report time out for a moment, so ask `status` until it holds.
    deadline, unhealthy = time.monotonic() + 90, None
    while unhealthy != [] and time.monotonic() < deadline:
        shown = json.loads(real.modelyard("status", "--json"))
        unhealthy = [(p["name"], p["healthy"]) for each in shown["services"] if each["name"] == "airflow"
                     for p in each["processes"] if not p["healthy"]]
        time.sleep(0 if unhealthy == [] else 3)
    assert unhealthy == [], unhealthy
    with real.rest() as rest:
        health = rest.get("/api/v2/monitor/health")
    assert health["metadatabase"]["status"] == "healthy"


def test_the_models_page_gates_changes_by_fab_role(real):
    from stack.airflow import _passwords_file, airflow_env, airflow_home, create_fab_logins, passwords

    logins = {"viewer1": "viewer", "op1": "op", "dash1": "viewer"}
    env = airflow_env(real.settings, api_port=real.settings.airflow_port, users=logins)
    known_file = _passwords_file(airflow_home(real.settings))  # one password as token_urlsafe may make it
    known_file.write_text(json.dumps({**json.loads(known_file.read_text()), "dash1": "-starts-with-a-dash"}))
    create_fab_logins(real.settings, env, logins)  # as an operator adds users: `airflow users create`
    for user, can_change in (("viewer1", False), ("op1", True), ("dash1", False), ("admin", True)):
        token = httpx.post(f"{real.airflow_url}/auth/token",
                           json={"username": user, "password": passwords(real.settings)[user]}, timeout=60)
        assert token.status_code == 201, token.text
        with httpx.Client(base_url=f"{real.airflow_url}/modelyard/api", timeout=60,
                          headers={"Authorization": f"Bearer {token.json()['access_token']}"}) as page:
            assert page.get("/whoami").json() == {"user": user, "role": logins.get(user, "admin"),
                                                  "can_change": can_change}
            assert page.get("/models").status_code == 200
            described = page.put(f"/models/{MODEL}/versions/1/description", json={"description": "x"})
            assert described.status_code == (404 if can_change else 403), described.text  # no model yet
    assert httpx.get(f"{real.airflow_url}/modelyard/api/models").status_code == 401


def test_modelyard_users_manages_fab_logins_at_once(real):
    """Under FAB the logins live in FAB's database: `modelyard users` changes them there, with
    no restart, and lists what is there."""
    def token(user: str, password: str) -> httpx.Response:
        return httpx.post(f"{real.airflow_url}/auth/token", json={"username": user, "password": password}, timeout=60)

    added = json.loads(real.modelyard("users", "add", "team1", "--role", "viewer", "--json"))

    assert (added["auth_manager"], added["api_server"], added["login"]) == (
        "fab", "not needed", {"name": "team1", "role": "viewer", "source": "fab"})
    issued = token("team1", added["password"])
    assert issued.status_code == 201, issued.text
    with httpx.Client(base_url=f"{real.airflow_url}/modelyard/api", timeout=60,
                      headers={"Authorization": f"Bearer {issued.json()['access_token']}"}) as page:
        assert page.get("/whoami").json() == {"user": "team1", "role": "viewer", "can_change": False}
        assert page.put(f"/models/{MODEL}/versions/1/description", json={"description": "x"}).status_code == 403
    listed = json.loads(real.modelyard("users", "list", "--json"))
    assert listed[0] == {"name": "admin", "role": "admin", "source": "platform"}
    assert {"name": "team1", "role": "viewer", "source": "fab"} in listed
    again = subprocess.run([MODELYARD, "users", "add", "team1", "--role", "op"], capture_output=True, text=True,
                           env={**os.environ, **real.env}, timeout=300)
    assert again.returncode == 1 and "login 'team1' exists with role viewer" in again.stderr, again.stderr

    changed = subprocess.run([MODELYARD, "users", "password", "team1", "--password-stdin"], input="-new secret\n",
                             capture_output=True, text=True, env={**os.environ, **real.env}, timeout=300)
    assert changed.returncode == 0 and "effective at once (FAB auth manager)" in changed.stdout, changed.stderr
    assert token("team1", added["password"]).status_code == 401
    assert token("team1", "-new secret").status_code == 201

    removed = real.modelyard("users", "remove", "team1")
    assert "login team1 (viewer): removed" in removed
    assert token("team1", "-new secret").status_code == 401
    assert "team1" not in {login["name"] for login in json.loads(real.modelyard("users", "list", "--json"))}


def test_models_are_registered_through_the_tracking_server_into_postgres_and_s3(real):
    from pipelines.training import DEMO_MODELS, train_demo_model
    from registry.metadata.db import session_scope
    from registry.metadata.events import events_for

    for _ in range(2):
        train_demo_model(DEMO_MODELS[MODEL], real.settings)
    found = httpx.get(f"{real.env['MODELYARD_TRACKING_URI']}/api/2.0/mlflow/registered-models/search").json()
    assert [model["name"] for model in found["registered_models"]] == [MODEL]
    assert any(key.endswith("MLmodel") for key in _s3_keys("artifacts/"))
    with session_scope(real.settings) as session:
        assert [e.action for e in events_for(session, model_name=MODEL)] == ["registered", "registered"]
    assert real.settings.database_url.startswith("postgresql")


def test_batch_scoring_of_s3_data_runs_on_the_dask_workers(real):
    from pipelines.training import load_dataset

    features, _ = load_dataset("breast_cancer")
    features.insert(0, "patient", range(len(features)))
    features.to_parquet(f"s3://{BUCKET}/data/visits/day.parquet", storage_options=_s3_options())
    before = _tasks_done(real)
    with real.rest() as rest:
        rest.wait_for_dag("batch_scoring", timeout=180)
        run_id = rest.trigger("batch_scoring", {
            "model_ref": f"{MODEL}/1", "input_path": f"s3://{BUCKET}/data/visits/",
            "output_path": f"s3://{BUCKET}/data/scored", "policy": "quarantine", "output_format": "parquet"})
        assert rest.wait_for_run("batch_scoring", run_id, timeout=600) == "success", rest.task_states(
            "batch_scoring", run_id)
    scored = pd.read_parquet(f"s3://{BUCKET}/data/scored", storage_options=_s3_options())
    rejected = pd.read_parquet(f"s3://{BUCKET}/data/scored/_rejects", storage_options=_s3_options())
    assert len(scored) + len(rejected) == len(features)
    assert "data/scored/_SUCCESS" in _s3_keys("data/scored/")
    assert _tasks_done(real) > before  # the partitions ran on the Dask workers


def _s3_options() -> dict:
    return {"client_kwargs": {"endpoint_url": os.environ["MODELYARD_S3_ENDPOINT_URL"]}}


def _page(real: RealServices) -> httpx.Client:
    from stack.airflow import admin_password

    token = httpx.post(f"{real.airflow_url}/auth/token",
                       json={"username": "admin", "password": admin_password(real.settings)}, timeout=60).json()["access_token"]
    return httpx.Client(base_url=f"{real.airflow_url}/modelyard/api", headers={"Authorization": f"Bearer {token}"},
                        timeout=60)


def _follow(client: httpx.Client, run: dict, timeout: float = 600) -> dict:
    from urllib.parse import quote

    deadline = time.monotonic() + timeout
    while run["state"] not in ("success", "failed"):
        assert time.monotonic() < deadline, run
        time.sleep(2)
        run = client.get(f"/workflow-runs/{run['dag_id']}/{quote(run['run_id'], safe='')}").json()
    return run


def _served_version(url: str) -> int:
    from pipelines.training import load_dataset

    row = load_dataset("breast_cancer")[0].iloc[:1].to_dict(orient="records")
    return httpx.post(f"{url}/predict", json=row, timeout=30).json()["model_version"]


def test_a_deploy_from_the_models_page_lands_on_the_serving_worker_then_rolls_back(real):
    port = free_port()
    with _page(real) as page:
        first = _follow(page, page.post(f"/models/{MODEL}/deploy", json={"ref": "1", "port": port}).json())
        assert first["state"] == "success", first
        url = first["deployment"]["url"]
        assert _served_version(url) == 1
        with real.rest() as rest:
            queues = {ti["task_id"]: ti["queue"] for ti in rest.get(
                f"/api/v2/dags/deploy_model/dagRuns/{first['run_id']}/taskInstances")["task_instances"]}
        assert set(queues.values()) == {"serving"}, queues
        logs = Path(real.settings.home, "airflow", "logs-stack")
        executed = [f"dag_id=deploy_model/run_id={first['run_id']}/task_id={step}" for step in queues]
        assert all(task in (logs / "celery-serving-worker.log").read_text() for task in executed)
        assert not any(task in (logs / "celery-worker.log").read_text() for task in executed)

        second = _follow(page, page.post(f"/models/{MODEL}/deploy", json={"ref": "2"}).json())
        assert second["state"] == "success" and _served_version(url) == 2
        back = _follow(page, page.post(f"/models/{MODEL}/rollback", json={}).json())
        assert back["state"] == "success" and _served_version(url) == 1
        assert [step["name"] for step in back["steps"][:2]] == ["swap", "previous_build"]  # no spares: the cold chain
        assert back["requested_by"] == "admin"
    from registry.metadata.db import session_scope
    from registry.metadata.events import events_for

    with session_scope(real.settings) as session:
        acts = [(e.action, e.actor) for e in events_for(session, model_name=MODEL)
                if e.action in ("deployed", "rolled_back")]
    assert acts == [("rolled_back", "admin"), ("deployed", "admin"), ("deployed", "admin")]


def test_a_run_that_loses_a_dask_worker_still_commits_once(real):
    import numpy as np

    from pipelines.training import load_dataset

    features, _ = load_dataset("breast_cancer")
    big = pd.concat([features] * 60, ignore_index=True)  # 34,140 rows in 12 files, a partition each
    big.insert(0, "patient", np.arange(len(big)))
    for index in range(12):
        big.iloc[index::12].to_parquet(f"s3://{BUCKET}/data/big/part-{index:02d}.parquet", storage_options=_s3_options())
    victim = real.dask_workers[1]
    with real.rest() as rest:
        run_id = rest.trigger("batch_scoring", {
            "model_ref": f"{MODEL}/1", "input_path": f"s3://{BUCKET}/data/big/",
            "output_path": f"s3://{BUCKET}/data/big-scored", "policy": "quarantine", "output_format": "parquet"})
        killed = _kill_during_scoring(rest, run_id, victim)
        assert rest.wait_for_run("batch_scoring", run_id, timeout=900) == "success", rest.task_states(
            "batch_scoring", run_id)
    scored = pd.read_parquet(f"s3://{BUCKET}/data/big-scored", storage_options=_s3_options())
    rejected = pd.read_parquet(f"s3://{BUCKET}/data/big-scored/_rejects", storage_options=_s3_options())
    print(f"killed Dask worker PIDs {killed}; rows in {len(big)}, scored {len(scored)}, rejected {len(rejected)}")
    assert len(scored) + len(rejected) == len(big)
    assert scored["patient"].is_unique and not set(scored["patient"]) & set(rejected["patient"])
    from registry.scoring_runs import list_scoring_runs

    runs = [r for r in list_scoring_runs(MODEL, settings=real.settings) if r.output_path.endswith("big-scored")]
    assert [(r.status, r.rows_in, r.rows_scored + r.rows_rejected) for r in runs] == [
        ("succeeded", len(big), len(big))]


def _kill_during_scoring(rest: AirflowRest, run_id: str, victim: Server) -> list[int]:
    """SIGKILL every process of one Dask worker (nanny and worker) once score_batch runs."""
    deadline = time.monotonic() + 600
    while rest.task_states("batch_scoring", run_id).get("score_batch") != "running":
        assert time.monotonic() < deadline, rest.task_states("batch_scoring", run_id)
        time.sleep(0.5)
    time.sleep(2.0)  # its partitions are on the workers now
    leader = Process("worker", victim.pid, proc_stat(victim.pid)["start_ticks"], str(victim.log))
    pids = session_members(leader)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    victim.process.wait(timeout=30)
    return pids


def test_no_embedded_default_was_used(real):
    home = real.settings.home
    assert [path for path in home.rglob("*") if _is_sqlite(path)] == [] and not (home / "artifacts").exists()


def _is_sqlite(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as stream:
        return stream.read(16) == b"SQLite format 3\x00"
