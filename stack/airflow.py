"""The platform's Airflow: its environment and its processes (its REST API: ``infra.airflow_rest``).

Everything Airflow keeps (SQLite database, logs, secrets, passwords) lives under
``MODELYARD_HOME/airflow``; the repository's ``airflow.cfg`` holds the shared settings and this
module adds what differs per home (paths, port, secrets). Airflow is driven through
subprocesses and HTTP only: importing this module does not import Airflow.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from infra.probes import local_url
from infra import processes
from infra.processes import Process
from infra.airflow_rest import AirflowRest
from infra.polling import poll
from stack import service
from stack.service import StackError

if TYPE_CHECKING:
    from registry.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SQL_CONN_VAR = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
AUTH_MANAGER_VAR = "AIRFLOW__CORE__AUTH_MANAGER"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
FAB_ROLES = {"viewer": "Viewer", "user": "User", "op": "Op", "admin": "Admin"}
FERNET_VAR = "AIRFLOW__CORE__FERNET_KEY"
USERNAME = "admin"
STOP_TIMEOUT = 15.0  # seconds of grace before SIGKILL; a clean stop takes 4-6 s

# `airflow standalone` is not used, for two reasons. Its scheduler starts the worker log server
# on all interfaces at port 8793 (and its triggerer another at 8794), with no setting for the
# host: that breaks "loopback only" and collides with a second stack on the machine;
# `--skip-serve-logs` on the scheduler and the triggerer avoids it (the api-server reads
# LocalExecutor task logs from disk). And it funnels every component through one pipe: separately, each has its own PID, log and health.
# The triggerer runs deferrable operators and sensors; without it Airflow's home page shows it
# red and a deferred task never resumes.
COMPONENTS: dict[str, list[str]] = {
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
    "api-server": ["api-server"],
}
CELERY = "CeleryExecutor"
DEFAULT_QUEUE = "default"


def components(env: dict[str, str], serving_queue: str) -> dict[str, list[str]]:
    """The processes to run: with the CeleryExecutor (configured in the environment) also a worker
    for the default queue and one for the serving queue, whose machine hosts the model servers.
    Workers serve no logs over HTTP (that server would listen on all interfaces)."""
    found = dict(COMPONENTS)
    if env.get("AIRFLOW__CORE__EXECUTOR") == CELERY:
        for name, queue in (("celery-worker", DEFAULT_QUEUE), ("celery-serving-worker", serving_queue)):
            if name == "celery-worker" or queue != DEFAULT_QUEUE:
                found[name] = ["celery", "worker", "--queues", queue, "--celery-hostname", f"{queue}@%h",
                               "--concurrency", "2", "--skip-serve-logs"]
    return found

SERVICE = "airflow"


class AirflowStackError(StackError):
    """The embedded Airflow could not be migrated, started or found."""


def airflow_home(settings: Settings) -> Path:
    return settings.home / "airflow"


def run_file(settings: Settings) -> Path:
    """Where the PIDs of a running stack are recorded, for ``modelyard down`` from another shell."""
    return service.run_file(settings, SERVICE)


def base_url(api_port: int) -> str:
    return local_url(api_port)


def airflow_env(
    settings: Settings, *, dags_folder: Path | None = None, api_port: int = 8080, users: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of every Airflow process of the embedded stack (creates its secrets once).

    Its logins are ``admin``, those recorded under the home (``stack.logins``) and ``users``
    (name -> role: viewer, user, op or admin); ``extra`` adds variables (the platform's
    ``AIRFLOW_CONN_DASK_DEFAULT``)."""
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        **service.modelyard_env(settings),
        **_paths_env(home, dags_folder),
        **_auth_env(home, {USERNAME: "admin", **recorded_users(settings), **(users or {})}),
        **_runtime_env(api_port),
        **(extra or {}),
    }


def auth_manager() -> str:
    """The configured auth manager's class path; SimpleAuthManager unless one is configured."""
    return os.environ.get(AUTH_MANAGER_VAR) or SIMPLE_AUTH_MANAGER


def passwords(settings: Settings) -> dict[str, str]:
    """Each login's password, generated with the passwords file by ``airflow_env``."""
    return json.loads(_passwords_file(airflow_home(settings)).read_text())


def recorded_users(settings: Settings) -> dict[str, str]:
    """The logins added beside ``admin`` (name -> role), which every start of Airflow loads."""
    path = _users_file(airflow_home(settings))
    return json.loads(path.read_text()) if path.exists() else {}


def record_users(settings: Settings, users: dict[str, str], passwords: dict[str, str]) -> None:
    """Replace the recorded logins and the passwords file (both owner-only, each written whole)."""
    home = airflow_home(settings)
    _write_private_json(_passwords_file(home), passwords)
    _write_private_json(_users_file(home), users)


@contextmanager
def logins_locked(settings: Settings) -> Iterator[None]:
    """One change of the logins at a time (two ``modelyard users`` commands run together)."""
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "users.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def admin_password(settings: Settings) -> str:
    return passwords(settings)[USERNAME]


def migrate(settings: Settings, **kw) -> None:
    """Create or upgrade Airflow's metadata database; a no-op when it is current."""
    env = airflow_env(settings, **kw)
    result = subprocess.run(
        [str(processes.SCRIPTS / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise AirflowStackError(f"airflow db migrate failed:\n{(result.stdout + result.stderr)[-3000:]}")


def start(
    settings: Settings, *, api_port: int, dags_folder: Path | None = None, timeout: float = 180.0,
    users: dict[str, str] | None = None, extra_env: dict[str, str] | None = None,
) -> AirflowStack:
    """Migrate, start scheduler, dag-processor, triggerer and api-server, and return once all are healthy.

    ``users`` (name -> role) are recorded beside the logins added with ``stack.logins``."""
    _refuse_if_running(settings)
    if users:
        with logins_locked(settings):
            record_users(settings, {**recorded_users(settings), **users}, _passwords_with(airflow_home(settings), users))
    migrate(settings, dags_folder=dags_folder, api_port=api_port)
    env = airflow_env(settings, dags_folder=dags_folder, api_port=api_port, users=users, extra=extra_env)
    if env[AUTH_MANAGER_VAR] != SIMPLE_AUTH_MANAGER:
        create_fab_logins(settings, env, {USERNAME: "admin", **(users or {})})
    stack = AirflowStack(base_url(api_port), [], USERNAME, admin_password(settings), env, run_file(settings))
    logs = airflow_home(settings) / "logs-stack"
    # What a restart of one component needs to rebuild its environment (``relaunch``).
    launch_record = {"base_url": stack.base_url, "api_port": api_port,
                     "dags_folder": str(dags_folder) if dags_folder else None, "users": users or {},
                     "extra_env": extra_env or {}}
    try:
        for name, args in components(env, settings.serving_queue).items():
            command = [str(processes.SCRIPTS / "airflow"), *args]
            stack.processes.append(processes.launch(name, command, env=env, log=logs / f"{name}.log"))
            processes.write_run_file(stack.run_file, stack.processes, **launch_record)
        _wait_until_healthy(stack, timeout)
    except BaseException:  # a failed or interrupted start leaves nothing running
        stack.stop()
        raise
    return stack


def relaunch(settings: Settings, process: Process, record: dict) -> Process:
    """One component again, with the environment ``start`` gave it (rebuilt from what the run file
    recorded of that start), without waiting for its health: the platform's restart of one process."""
    env = airflow_env(settings, dags_folder=Path(record["dags_folder"]) if record.get("dags_folder") else None,
                      api_port=record.get("api_port", settings.airflow_port), users=record.get("users"),
                      extra=record.get("extra_env"))
    found = components(env, settings.serving_queue)
    if process.name not in found:
        raise AirflowStackError(f"Airflow has no component {process.name!r} to restart (it runs {', '.join(found)})",
                                field="process")
    command = [str(processes.SCRIPTS / "airflow"), *found[process.name]]
    return processes.launch(process.name, command, env=env, log=Path(process.log))


def create_fab_logins(settings: Settings, env: dict[str, str], users: dict[str, str]) -> None:
    """Under the FAB auth manager, the logins that SimpleAuthManager would have (name -> role),
    with the same generated passwords; existing ones are left as they are (the CLI says so and
    exits 0, and its ``users list`` mixes log lines into its JSON, so nothing is listed first)."""
    airflow = str(processes.SCRIPTS / "airflow")
    known = passwords(settings)
    for name, role in users.items():
        # "--option=value": a generated password may start with "-", which argparse takes for an option
        made = subprocess.run([airflow, "users", "create", f"--username={name}", f"--role={FAB_ROLES[role]}",
                               f"--password={known[name]}", f"--email={name}@localhost", f"--firstname={name}",
                               "--lastname=modelyard"], env=env, capture_output=True, text=True)
        output = made.stdout + made.stderr
        if made.returncode != 0 or not (f'User "{name}" created' in output or f"{name} already exists" in output):
            raise AirflowStackError(f"airflow users create {name} failed:\n{output[-3000:]}")


def running_api(settings: Settings) -> AirflowRest:
    """A client for the Airflow this home has running (``modelyard up``), or a clear error."""
    recorded, extra = processes.read_run_file(run_file(settings))
    if not recorded or not all(processes.is_running(process) for process in recorded):
        raise AirflowStackError(f"no Airflow runs for {settings.home}: start the platform with `modelyard up`")
    return AirflowRest(extra["base_url"], USERNAME, admin_password(settings))


def pause_removed_dag(settings: Settings, dag_id: str) -> bool:
    """Pause a removed association's DAG in the platform's running Airflow, so no run of it starts
    before the dag-processor drops it (seconds later); False when no Airflow runs or it has no such
    DAG. The Models page does the same inside the api-server."""
    try:
        api = running_api(settings)
    except AirflowStackError:
        return False
    with api:
        return api.pause(dag_id)


@dataclass
class AirflowStack:
    """A running embedded Airflow: where it answers, how to log in, and how to stop it."""

    base_url: str
    processes: list[Process]
    username: str
    password: str = field(repr=False)
    env: dict[str, str] = field(repr=False)
    run_file: Path

    @property
    def pids(self) -> dict[str, int]:
        return {process.name: process.pid for process in self.processes}

    def api(self) -> AirflowRest:
        return AirflowRest(self.base_url, self.username, self.password)

    def running(self) -> list[str]:
        """Names of the components whose process is alive."""
        return [process.name for process in self.processes if processes.is_running(process)]

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM each component (a clean shutdown takes 4-6 s); SIGKILL their sessions after ``timeout``.

        The fallback is needed, not theoretical: in roughly one stop in three, Airflow 3.3's
        LocalExecutor.end() counts live workers while they already consume its shutdown messages,
        sends one too few, and joins the idle worker left without one forever (a second SIGTERM
        does not help; apache/airflow#67870 is the same unbounded join). Tasks still running
        after ``timeout`` are killed, as ``docker stop`` would.
        """
        processes.stop(self.processes, sig=signal.SIGTERM, timeout=timeout)
        self.run_file.unlink(missing_ok=True)


def component_health(base: str) -> dict[str, bool]:
    """Each component's health as the api-server reports it (all False when it does not answer)."""
    try:
        response = httpx.get(f"{base}/api/v2/monitor/health", timeout=5.0)
        health = response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        health = {}
    def ok(part: str) -> bool:
        return (health.get(part) or {}).get("status") == "healthy"
    return {"api-server": ok("metadatabase"), "scheduler": ok("scheduler"), "dag-processor": ok("dag_processor"),
            "triggerer": ok("triggerer")}


def wait_for_api_server(settings: Settings, *, timeout: float) -> None:
    """Wait until the recorded api-server answers healthy (after a restart of it alone); fail at
    once, with its log's end, if it exits."""
    launched, extra = service.recorded(settings, SERVICE)
    api_server = next(process for process in launched if process.name == "api-server")
    service.wait_until(lambda: component_health(extra["base_url"])["api-server"], [api_server],
                       "the Airflow api-server", timeout)


def _wait_until_healthy(stack: AirflowStack, timeout: float) -> None:
    """Wait for the api-server to answer and report the database, scheduler, dag-processor and
    triggerer healthy."""
    def healthy() -> bool | None:
        _raise_if_component_died(stack)
        return all(component_health(stack.base_url).values()) or None

    if poll(healthy, timeout=timeout) is None:
        raise AirflowStackError(f"Airflow not healthy after {timeout}s:\n{_log_tails(stack.processes)}")


def _raise_if_component_died(stack: AirflowStack) -> None:
    dead = [process for process in stack.processes if not processes.is_running(process)]
    if dead:
        raise AirflowStackError(f"Airflow {', '.join(p.name for p in dead)} exited:\n{_log_tails(dead)}")


def _log_tails(launched: list[Process]) -> str:
    return "\n".join(f"--- {p.name} ({p.log})\n{processes.log_tail(p)}" for p in launched)


def _refuse_if_running(settings: Settings) -> None:
    recorded, record = processes.read_run_file(run_file(settings))
    if any(processes.is_running(process) for process in recorded):
        raise AirflowStackError(
            f"an Airflow stack of this home already runs at {record.get('base_url')}; stop it first"
        )


def _paths_env(home: Path, dags_folder: Path | None) -> dict[str, str]:
    """Airflow home, the repo's config, DAGs and plugins, the database (the home's SQLite unless
    configured), and the venv's ``airflow`` first on PATH."""
    sql_conn = os.environ.get(SQL_CONN_VAR) or f"sqlite:///{home / 'airflow.db'}"
    sqlite = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "stack.airflow_sqlite.CONNECT_ARGS"} \
        if sql_conn.startswith("sqlite") else {}
    return {
        **sqlite,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(REPO / "airflow.cfg"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        SQL_CONN_VAR: sql_conn,
        "PATH": processes.project_path(),
    }


def _auth_env(home: Path, users: dict[str, str]) -> dict[str, str]:
    """The configured auth manager, else SimpleAuthManager with fixed users (each with a generated
    password, which ``start`` also gives FAB logins), and secrets shared by all components across
    restarts."""
    keys = _persisted_json(home / "stack-secrets.json", _new_secrets)
    known = _persisted_json(_passwords_file(home), dict)
    if set(users) - set(known):  # a password for each new login, once
        _write_private_json(_passwords_file(home), _passwords_with(home, users))
    return {
        AUTH_MANAGER_VAR: auth_manager(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{name}:{role}" for name, role in users.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(_passwords_file(home)),
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
        FERNET_VAR: os.environ.get(FERNET_VAR) or keys["fernet_key"],  # kept with a user's database
    }


def _runtime_env(api_port: int) -> dict[str, str]:
    """Executor (LocalExecutor unless configured), size, loopback api-server, and DAG file scans
    short enough for tests."""
    return {
        "AIRFLOW__CORE__EXECUTOR": os.environ.get("AIRFLOW__CORE__EXECUTOR", "LocalExecutor"),
        "AIRFLOW__CORE__PARALLELISM": "4",  # the default 32 pre-forks 32 idle workers
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        # Tasks reach the execution API through base_url: without it they call localhost:8080.
        "AIRFLOW__API__BASE_URL": base_url(api_port),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",  # new DAG files (default 300 s)
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",  # changed files (default 30 s)
        "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "10",  # a removed association's DAG goes (default 50 s)
        # The repo's cfg enables the scheduler health server for compose; embedded, it would bind
        # 0.0.0.0:8974. /api/v2/monitor/health reports the scheduler instead.
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "PYTHONFAULTHANDLER": "1",  # a component that crashes leaves its Python traceback in its log
        # A running task reaches the api-server (execution API) for every state change; by default
        # it gives up after 5 tries within 5-30 s, and the api-server's restart for a change of
        # logins (stack.logins) takes 35-55 s here: the task then failed and ran again. 10 tries
        # at least 10 s apart ride out an outage of 90 s or more.
        "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "10",
        "AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MIN": "10",
    }


def _passwords_file(home: Path) -> Path:
    return home / "simple_auth_manager_passwords.json"


def _users_file(home: Path) -> Path:
    return home / "users.json"


def _passwords_with(home: Path, users: dict[str, str]) -> dict[str, str]:
    """The passwords file's content with a generated password for each of ``users`` it lacks."""
    known = _persisted_json(_passwords_file(home), dict)
    return {**{name: secrets.token_urlsafe(16) for name in users}, **known}


def _write_private_json(path: Path, content: dict) -> None:
    """Write ``content`` to an owner-only file that readers never see half-written."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as stream:
        json.dump(content, stream)
    os.replace(partial, path)


def _new_secrets() -> dict[str, str]:
    return {
        "jwt_secret": secrets.token_urlsafe(64),
        "api_secret_key": secrets.token_urlsafe(32),
        "fernet_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }


def _persisted_json(path: Path, make: Callable[[], dict]) -> dict:
    """Read a small owner-only JSON file, creating it with ``make()`` the first time."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return json.loads(path.read_text())
    content = make()
    with os.fdopen(descriptor, "w") as stream:
        json.dump(content, stream)
    return content
