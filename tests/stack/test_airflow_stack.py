"""The embedded Airflow for real: one stack per module on a loopback port, driven over REST."""

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from stack import airflow, service
from infra.airflow_rest import AirflowApiError
from infra import processes
from registry.settings import Settings
from tests.listeners import listeners_of
from tests.servers import free_port

pytestmark = pytest.mark.timeout(300)  # the first test also pays for a 20-45 s start

ECHO_DAG = textwrap.dedent('''
    """Writes the conf and MODELYARD_HOME a task sees into MODELYARD_HOME."""
    import json
    import os
    from pathlib import Path

    import pendulum
    from airflow.sdk import dag, get_current_context, task


    @dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1))
    def stack_echo():
        @task
        def write_seen():
            context = get_current_context()
            home = Path(os.environ["MODELYARD_HOME"])
            seen = {"conf": context["dag_run"].conf, "home": str(home)}
            (home / f"seen-{context['run_id'].replace(':', '_')}.json").write_text(json.dumps(seen))

        write_seen()


    stack_echo()
''')

FAIL_DAG = textwrap.dedent('''
    """A task that always fails, to prove failure is reported instead of waited on."""
    import pendulum
    from airflow.sdk import dag, task


    @dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1), default_args={"retries": 0})
    def stack_fail():
        @task
        def fail_loudly():
            raise RuntimeError("planned failure")

        fail_loudly()


    stack_fail()
''')


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("airflow-stack") / "home")


@pytest.fixture(scope="module")
def stack(settings, tmp_path_factory):
    dags = tmp_path_factory.mktemp("dags")
    (dags / "stack_echo.py").write_text(ECHO_DAG)
    (dags / "stack_fail.py").write_text(FAIL_DAG)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(airflow.SQL_CONN_VAR, raising=False)  # conftest's in-process DB: use the home's
        started = airflow.start(settings, api_port=free_port(), dags_folder=dags)
        yield started
        started.stop()


@pytest.fixture(scope="module")
def api(stack):
    with stack.api() as client:
        yield client


def test_env_persists_secrets_and_keeps_a_users_database(tmp_path, monkeypatch):
    monkeypatch.delenv(airflow.SQL_CONN_VAR, raising=False)
    settings = Settings(home=tmp_path / "home", dask_scheduler="tcp://127.0.0.1:8786")
    first = airflow.airflow_env(settings, api_port=9999)
    again = airflow.airflow_env(settings)
    assert first["AIRFLOW__API_AUTH__JWT_SECRET"] == again["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert airflow.admin_password(settings) == airflow.admin_password(settings)
    passwords = tmp_path / "home" / "airflow" / "simple_auth_manager_passwords.json"
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    assert first[airflow.SQL_CONN_VAR] == f"sqlite:///{tmp_path}/home/airflow/airflow.db"
    assert first["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:9999"
    assert first["MODELYARD_HOME"] == str(tmp_path / "home")
    assert first["MODELYARD_DASK_SCHEDULER"] == "tcp://127.0.0.1:8786"
    assert first["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)

    monkeypatch.setenv(airflow.SQL_CONN_VAR, "postgresql+psycopg://u@db/airflow")
    assert airflow.airflow_env(settings)[airflow.SQL_CONN_VAR] == "postgresql+psycopg://u@db/airflow"


def test_importing_the_harness_leaves_airflow_unimported():
    code = "import sys, stack.airflow; print([m for m in sys.modules if m.split('.')[0] == 'airflow'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_triggered_run_sees_conf_and_modelyard_home(stack, api, settings):
    api.wait_for_dag("stack_echo", timeout=60)
    conf = {"model": "wine", "alias": "champion", "rows": [1, 2, 3]}
    run_id = api.trigger("stack_echo", conf)

    assert api.wait_for_run("stack_echo", run_id, timeout=120) == "success"
    assert api.task_states("stack_echo", run_id) == {"write_seen": "success"}
    seen = json.loads((settings.home / f"seen-{run_id.replace(':', '_')}.json").read_text())
    assert seen == {"conf": conf, "home": str(settings.home)}


def test_failing_task_ends_the_run_failed(stack, api):
    api.wait_for_dag("stack_fail", timeout=60)
    run_id = api.trigger("stack_fail", {})

    assert api.wait_for_run("stack_fail", run_id, timeout=120) == "failed"
    assert api.task_states("stack_fail", run_id) == {"fail_loudly": "failed"}


def test_unknown_dag_is_a_specific_error(stack, api):
    with pytest.raises(AirflowApiError) as error:
        api.trigger("no_such_dag", {})
    assert error.value.status_code == 404


def test_stack_listens_on_loopback_only(stack):
    """No log server or health server on 0.0.0.0: only the api-server, on 127.0.0.1."""
    ours = {pid for process in stack.processes for pid in processes.session_members(process)}
    addresses = [f"{listener.address}:{listener.port}" for listener in listeners_of(ours)]
    assert addresses == [stack.base_url.removeprefix("http://")]


def test_second_start_for_the_same_home_is_refused(stack, settings):
    with pytest.raises(airflow.AirflowStackError, match="already runs"):
        airflow.start(settings, api_port=free_port())


def test_stop_ends_every_recorded_process(stack, settings):
    """Runs last: stops the module's stack and checks nothing it started survives."""
    assert (settings.home / "airflow" / "airflow.db").exists()  # the home's DB, not conftest's
    recorded, extra = processes.read_run_file(airflow.run_file(settings))
    assert {process.name: process.pid for process in recorded} == stack.pids
    assert extra["base_url"] == stack.base_url

    stack.stop()

    assert not any(processes.is_running(process) for process in recorded)
    assert not any(os.path.exists(f"/proc/{process.pid}") for process in recorded)
    assert all(processes.session_members(process) == [] for process in recorded)
    assert not airflow.run_file(settings).exists()
    assert service.stop_recorded(settings, airflow.SERVICE) == {airflow.SERVICE: []}
