"""`modelyard up | status | down` for real: every service started on loopback, found again by a
second command, brought back after a crash, and stopped by PID.

One platform for the module, on free ports, over a home with the demo models; the tests run in
order: up, up again, each process killed in turn and restarted by the platform itself, a batch
run on the warm Dask cluster afterwards (from the CLI and from Airflow), deployments brought back
after a stop, the deployment commands, down (the model keeps serving, nothing comes back), and an
undeploy without the platform.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pandas as pd
import pytest

from infra import processes
from registry.settings import Settings
from stack import platform, service, supervisor
from tests.servers import free_port

pytestmark = pytest.mark.timeout(900)
MODELYARD = str(Path(sys.executable).parent / "modelyard")
MODEL = "breast_cancer_classifier"
SERVICES = ["mlflow", "dask", "airflow", "watchdog", "supervisor"]
PROCESSES = {"mlflow-server": "mlflow", "dask-scheduler": "dask", "dask-workers": "dask", "scheduler": "airflow",
             "dag-processor": "airflow", "api-server": "airflow", "triggerer": "airflow",
             "deployment-watchdog": "watchdog", "supervisor": "supervisor"}  # in the fault test's order
RESTARTED_WITHIN_S = 10.0  # the bound, from SIGKILL to the new process running
HEALTHY_WITHIN_S = 150.0  # generous: the api-server alone needs 15-30 s on 2 busy cores


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path_factory.mktemp("platform-home"), airflow_port=free_port(),
                        mlflow_port=free_port(), dask_port=free_port(), dask_dashboard_port=free_port())
    train_demo_model(DEMO_MODELS[MODEL], settings)
    yield settings
    platform.down(settings, deployments=True)


def _cli(settings: Settings, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``modelyard`` in a new process, configured through the environment as a user would."""
    env = {**os.environ, **service.modelyard_env(settings)}
    result = subprocess.run([MODELYARD, *args], capture_output=True, text=True, env=env, timeout=540)
    assert not check or result.returncode == 0, f"modelyard {' '.join(args)}:\n{result.stderr[-3000:]}"
    return result


def _pids(state) -> dict[str, int]:
    return {process.name: process.pid for each in state.services for process in each.processes}


def _tasks_done(settings: Settings) -> float:
    """Tasks the platform's Dask scheduler has computed since it started (its Prometheus metrics)."""
    text = httpx.get(f"http://127.0.0.1:{settings.dask_dashboard_port}/metrics", timeout=5).text
    pattern = r'^dask_scheduler_prefix_state_totals_total\{state="memory",[^}]*\} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, re.M))


def test_up_starts_every_service_on_loopback_and_says_where(settings):
    shown = _cli(settings, "up")
    state = platform.status(settings)
    assert [(each.name, each.action) for each in state.services] == [(name, "running") for name in SERVICES]
    assert set(_pids(state)) == set(PROCESSES)
    assert all(process.running and process.uptime_seconds >= 0 for each in state.services
               for process in each.processes), state
    # `up` waited for every component's health; under the suite's load a heartbeat can lag or the
    # api-server's report time out for a moment after it, so ask `status` until health holds.
    deadline = time.monotonic() + 90
    while not state.healthy and time.monotonic() < deadline:
        time.sleep(3)
        state = platform.status(settings)
    assert state.healthy, [(p.name, p.healthy) for each in state.services for p in each.processes]
    airflow_url = f"http://127.0.0.1:{settings.airflow_port}"
    assert state.models_page == f"{airflow_url}/plugin/models" and state.login.user == "admin"
    for url in (state.models_page, f"http://127.0.0.1:{settings.mlflow_port}",
                f"http://127.0.0.1:{settings.dask_dashboard_port}/status"):
        assert url in shown.stdout.replace("\n", "")
    assert state.login.password in shown.stdout
    models = httpx.get(f"http://127.0.0.1:{settings.mlflow_port}/api/2.0/mlflow/registered-models/search").json()
    assert [model["name"] for model in models["registered_models"]] == [MODEL]  # the UI sees the same store


def test_a_second_up_starts_nothing(settings):
    before = _pids(platform.status(settings))
    state = json.loads(_cli(settings, "up", "--json").stdout)
    assert [(each["name"], each["action"]) for each in state["services"]] == [(name, "running") for name in SERVICES]
    assert {p["name"]: p["pid"] for each in state["services"] for p in each["processes"]} == before


def test_the_platform_restarts_each_of_its_processes_that_dies(settings, capsys):
    """SIGKILL each process in turn: the supervisor (or, for the supervisor, the watchdog) has it
    running again within 10 s, healthy soon after, and status says how often and why."""
    for name, service_name in PROCESSES.items():
        before = _healthy_process(settings, name, pid=None, since=time.monotonic())
        old = next(p for p in service.recorded(settings, service_name)[0] if p.name == name)
        assert old.pid == before.pid
        os.kill(old.pid, signal.SIGKILL)
        killed = time.monotonic()
        new = _relaunched(settings, service_name, old)
        running_s = time.monotonic() - killed
        assert new is not None and running_s <= RESTARTED_WITHIN_S, f"{name} not back {RESTARTED_WITHIN_S} s after SIGKILL"
        after = _healthy_process(settings, name, pid=new.pid, since=killed)
        with capsys.disabled():  # the closing note lists these
            print(f"\n{name}: SIGKILL to new process {running_s:.1f} s, to healthy {time.monotonic() - killed:.1f} s")
        assert after.restarts >= before.restarts + 1 and re.match(r"(gone|killed by SIGKILL)", after.last_reason), after
    shown = json.loads(_cli(settings, "status", "--json").stdout)
    assert [(each["name"], each["action"]) for each in shown["services"]] == [(name, "running") for name in SERVICES]
    assert all(p["restarts"] >= 1 and p["last_reason"] for each in shown["services"] for p in each["processes"])
    table = _cli(settings, "status").stdout
    assert "restarts" in table and "last reason" in table and ("killed by SIGKILL" in table or "gone" in table)


def _relaunched(settings: Settings, service_name: str, old: processes.Process) -> processes.Process | None:
    """The process recorded in ``old``'s place once it runs (polled a little past the bound)."""
    deadline = time.monotonic() + RESTARTED_WITHIN_S + 20
    while time.monotonic() < deadline:
        for process in service.recorded(settings, service_name)[0]:
            if process.name == old.name and process.pid != old.pid and processes.is_running(process):
                return process
        time.sleep(0.1)
    return None


def _healthy_process(settings: Settings, name: str, *, pid: int | None, since: float) -> service.ProcessState:
    """The process ``name`` as status shows it once the whole platform is healthy (and, with
    ``pid``, once that PID is the one recorded)."""
    while True:
        state = platform.status(settings)
        found = next(p for each in state.services for p in each.processes if p.name == name)
        if state.healthy and (pid is None or found.pid == pid):
            return found
        assert time.monotonic() - since < HEALTHY_WITHIN_S, [(p.name, p.pid, p.healthy, p.last_reason)
                                                               for each in state.services for p in each.processes]
        time.sleep(0.5)


def test_score_from_the_command_line_runs_on_the_warm_cluster(settings, tmp_path):
    from pipelines.training import load_dataset

    assert platform.dask_address(settings) == f"tcp://127.0.0.1:{settings.dask_port}"
    features, _ = load_dataset("breast_cancer")
    features.to_parquet(tmp_path / "in.parquet")
    before = _tasks_done(settings)
    result = json.loads(_cli(settings, "score", f"{MODEL}/1", "--input", str(tmp_path / "in.parquet"),
                             "--output", str(tmp_path / "out"), "--policy", "quarantine", "--json").stdout)
    assert result["rows_scored"] + result["rows_rejected"] == len(features)
    assert _tasks_done(settings) > before


def test_airflow_tasks_reach_the_warm_cluster_through_dask_default(settings, tmp_path):
    from pipelines.training import load_dataset
    from stack.airflow import running_api

    folder = Path(settings.data_roots[0])
    load_dataset("breast_cancer")[0].to_parquet(folder / "visits.parquet")
    before = _tasks_done(settings)
    with running_api(settings) as api:
        api.wait_for_dag("batch_scoring", timeout=120)
        run_id = api.trigger("batch_scoring", {"model_ref": f"{MODEL}/1", "input_path": str(folder / "visits.parquet"),
                                               "output_path": str(folder / "scored"), "policy": "quarantine",
                                               "output_format": "parquet"})
        assert api.wait_for_run("batch_scoring", run_id, timeout=400) == "success", api.task_states(
            "batch_scoring", run_id)
    scored, rejected = pd.read_parquet(folder / "scored"), pd.read_parquet(folder / "scored" / "_rejects")
    assert len(scored) + len(rejected) == 569
    assert _tasks_done(settings) > before


def _token(settings: Settings, user: str, password: str) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{settings.airflow_port}/auth/token",
                      json={"username": user, "password": password}, timeout=30)


def _models_api(settings: Settings, token: httpx.Response) -> httpx.Client:
    assert token.status_code == 201, token.text
    return httpx.Client(base_url=f"http://127.0.0.1:{settings.airflow_port}/modelyard/api", timeout=60,
                        headers={"Authorization": f"Bearer {token.json()['access_token']}"})


def test_an_association_removed_from_the_command_line_is_paused_at_once(settings):
    """As the Models page does: no run of a removed association's DAG starts while Airflow still lists it."""
    from stack.airflow import running_api

    root = settings.data_roots[0]
    _cli(settings, "associate", f"{MODEL}/1", "--input", f"{root}/minutely/in.parquet", "--output",
         f"{root}/minutely/out", "--schedule", "* * * * *", "--name", "minutely")
    with running_api(settings) as api:
        api.wait_for_dag("score__minutely", timeout=180)
        assert api.get("/api/v2/dags/score__minutely")["is_paused"] is False

    removed = _cli(settings, "associations", "remove", "minutely")

    assert "its DAG is paused now, no run of it starts" in removed.stdout
    with running_api(settings) as api:
        assert api.get("/api/v2/dags/score__minutely")["is_paused"] is True


def test_a_team_login_works_at_once_and_the_restart_loses_no_running_task(settings, tmp_path):
    """Adding and removing a login restarts the api-server alone, while a batch run is in
    flight; a new password needs no restart."""
    from pipelines.training import load_dataset
    from stack.airflow import running_api

    folder = Path(settings.data_roots[0])
    load_dataset("breast_cancer")[0].to_parquet(folder / "visits.parquet")
    with running_api(settings) as api:
        run_id = api.trigger("batch_scoring", {"model_ref": f"{MODEL}/1", "input_path": str(folder / "visits.parquet"),
                                               "output_path": str(folder / "scored-during-restart"),
                                               "policy": "quarantine", "output_format": "parquet"})
        deadline = time.monotonic() + 120
        while "running" not in api.task_states("batch_scoring", run_id).values():
            assert time.monotonic() < deadline, api.task_states("batch_scoring", run_id)
            time.sleep(0.5)
    before = _pids(platform.status(settings))
    restarting = time.time()

    added = json.loads(_cli(settings, "users", "add", "team1", "--role", "viewer", "--json").stdout)

    assert (added["api_server"], added["login"]["role"]) == ("restarted", "viewer") and added["restart_seconds"] > 0
    print(f"api-server restarted for a new login in {added['restart_seconds']} s")
    after = _pids(platform.status(settings))
    assert after["api-server"] != before["api-server"]
    assert {name: after[name] for name in after if name != "api-server"} == {
        name: before[name] for name in before if name != "api-server"}
    with running_api(settings) as api:  # the run in flight went on through the restart, no task tried twice
        assert api.wait_for_run("batch_scoring", run_id, timeout=400) == "success", api.task_states(
            "batch_scoring", run_id)
        instances = api.get(f"/api/v2/dags/batch_scoring/dagRuns/{quote(run_id, safe='')}/taskInstances")
    tries = {each["task_id"]: each["try_number"] for each in instances["task_instances"]}
    assert set(tries.values()) == {1}, tries
    for each in instances["task_instances"]:  # where the tasks ran against the api-server's restart
        started, ended = (pd.Timestamp(each[key]).timestamp() - restarting for key in ("start_date", "end_date"))
        print(f"{each['task_id']}: {started:+.1f} s to {ended:+.1f} s (restart: 0 to {added['restart_seconds']} s)")
    with _models_api(settings, _token(settings, "team1", added["password"])) as page:
        assert page.get("/whoami").json() == {"user": "team1", "role": "viewer", "can_change": False}
        assert page.get("/models").status_code == 200
        refused = page.put(f"/models/{MODEL}/versions/1/description", json={"description": "x"})
        assert refused.status_code == 403, refused.text

    changed = subprocess.run([MODELYARD, "users", "password", "team1", "--password-stdin"], input="new secret 1\n",
                             capture_output=True, text=True, env={**os.environ, **service.modelyard_env(settings)})
    assert changed.returncode == 0 and "effective at once" in changed.stdout, changed.stderr
    assert _pids(platform.status(settings))["api-server"] == after["api-server"]
    assert _token(settings, "team1", added["password"]).status_code == 401
    assert _token(settings, "team1", "new secret 1").status_code == 201

    removed = _cli(settings, "users", "remove", "team1")
    assert "api-server restarted to load the changed logins" in removed.stdout
    assert _token(settings, "team1", "new secret 1").status_code == 401
    assert [login["name"] for login in json.loads(_cli(settings, "users", "list", "--json").stdout)] == ["admin"]


def test_down_keeps_deployments_unless_asked_and_up_brings_them_back(settings):
    deployed = json.loads(_cli(settings, "deploy", f"{MODEL}/1", "--port", str(free_port()), "--json").stdout)
    shown = _cli(settings, "down", "--deployments")
    assert f"deployment {MODEL}/1: stopped its servers at {deployed['url']}" in shown.stdout
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{deployed['url']}/readyz", timeout=2)
    assert platform.status(settings).deployments[0].healthy is False  # still desired

    state = platform.up(settings)

    assert [(r.model_name, r.action) for r in state.repairs] == [(MODEL, "restarted")]
    assert httpx.get(f"{deployed['url']}/readyz", timeout=5).status_code == 200
    assert [(d.model_version, d.healthy) for d in state.deployments] == [(1, True)]


def test_deployments_from_the_command_line(settings):
    listed = json.loads(_cli(settings, "deployments", "list", "--json").stdout)
    assert [(row["model_version"], row["status"], row["healthy"]) for row in listed] == [(1, "running", True)]
    (repair,) = json.loads(_cli(settings, "deployments", "reconcile", "--json").stdout)
    assert (repair["deployment_id"], repair["action"]) == (listed[0]["id"], "ok")
    refused = _cli(settings, "rollback", MODEL, check=False)
    assert refused.returncode == 1 and "no earlier deployed version to roll back to" in refused.stderr


def test_down_stops_every_process_by_pid_and_leaves_the_model_serving(settings):
    recorded = [p for name in SERVICES for p in service.recorded(settings, name)[0]]
    shown = _cli(settings, "down")
    assert "airflow: stopped scheduler, dag-processor, triggerer, api-server" in shown.stdout
    assert "supervisor: stopped supervisor" in shown.stdout
    assert "1 deployment(s) keep serving" in shown.stdout
    assert not any(processes.is_running(p) or processes.session_members(p) for p in recorded)
    time.sleep(3 * supervisor.INTERVAL_S)  # a restarter left running would have acted by now
    assert [(each.name, each.action) for each in platform.status(settings).services] == [
        (name, "absent") for name in SERVICES]
    assert [name for name in SERVICES if service.run_file(settings, name).exists()] == []
    (serving,) = platform.status(settings).deployments
    assert httpx.get(f"{serving.url}/readyz", timeout=5).status_code == 200


def test_undeploy_from_the_command_line(settings):
    (serving,) = platform.status(settings).deployments

    stopped = _cli(settings, "undeploy", MODEL)

    assert f"stopped {MODEL}/1" in stopped.stdout
    assert platform.status(settings).deployments == []
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{serving.url}/readyz", timeout=2)
    again = _cli(settings, "undeploy", MODEL, check=False)
    assert again.returncode == 1 and again.stderr.startswith("error: ")
    missing = _cli(settings, "deploy", "no_such_model/1", "--port", str(free_port()), check=False)
    assert missing.returncode == 1 and "no_such_model" in missing.stderr
