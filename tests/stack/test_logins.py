"""``modelyard users`` without a running platform: what it records, what Airflow's environment
then loads, and what it refuses. (On a running platform: tests/stack/test_platform.py; under
FAB: tests/stack/test_real_services.py; a viewer in the browser: tests/plugins.)"""

import json
import stat

import pytest
from typer.testing import CliRunner

from cli.main import app
from stack import airflow


@pytest.fixture
def users(home):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(app, ["users", *args], input=input, catch_exceptions=False)

    return invoke


def _owner_only(path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_login_is_recorded_with_its_role_and_loaded_by_every_airflow_start(users, home):
    added = users("add", "team1", "--role", "viewer")
    assert added.exit_code == 0, added.output
    password = next(line.removeprefix("password: ") for line in added.output.splitlines() if line.startswith("password: "))
    assert "the platform is not running: the change takes effect at the next `modelyard up`" in added.output
    assert airflow.passwords(home)["team1"] == password and len(password) >= 16

    env = airflow.airflow_env(home, api_port=8080)

    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin,team1:viewer"
    folder = airflow.airflow_home(home)
    assert json.loads((folder / "users.json").read_text()) == {"team1": "viewer"}
    assert _owner_only(folder / "users.json") and _owner_only(folder / "simple_auth_manager_passwords.json")
    listed = json.loads(users("list", "--json").output)
    assert listed == [{"name": "admin", "role": "admin", "source": "platform"},
                      {"name": "team1", "role": "viewer", "source": "added"}]


def test_a_password_from_stdin_is_not_printed_and_a_new_one_replaces_the_old(users, home):
    added = json.loads(users("add", "ops", "--role", "op", "--password-stdin", "--json", input="-starts with a dash\n").output)
    assert (added["login"], added["password"], added["api_server"]) == (
        {"name": "ops", "role": "op", "source": "added"}, None, "not running")
    assert airflow.passwords(home)["ops"] == "-starts with a dash"

    changed = users("password", "ops")

    assert "login ops (op): password changed" in changed.output
    assert "effective at once (the password is read at each login)" in changed.output
    assert f"password: {airflow.passwords(home)['ops']}" in changed.output
    admin = users("password", "admin", "--password-stdin", input="new-admin-secret\n")
    assert admin.exit_code == 0 and airflow.admin_password(home) == "new-admin-secret"


def test_a_removed_login_loses_its_password_and_its_place_in_airflows_users(users, home):
    users("add", "team1", "--role", "viewer")
    users("add", "team2", "--role", "user")

    removed = users("remove", "team1")

    assert removed.exit_code == 0 and "login team1 (viewer): removed" in removed.output
    assert "team1" not in airflow.passwords(home)
    env = airflow.airflow_env(home, api_port=8080)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin,team2:user"


@pytest.mark.parametrize("args, stdin, message", [
    (["add", "bad:name", "--role", "viewer"], None, "login name 'bad:name' is not allowed"),
    (["add", "a,b", "--role", "viewer"], None, "login name 'a,b' is not allowed"),
    (["add", "team1", "--role", "boss"], None, "unknown role 'boss': choose viewer, user, op or admin (--role)"),
    (["add", "admin", "--role", "viewer"], None, "login 'admin' is the platform's own and cannot be added again"),
    (["add", "team1", "--role", "viewer", "--password-stdin"], "\n", "the password is empty (--password-stdin)"),
    (["remove", "admin"], None, "login 'admin' is the platform's own and cannot be removed"),
    (["remove", "nobody"], None, "no login 'nobody': the logins are admin"),
    (["password", "nobody"], None, "no login 'nobody': the logins are admin"),
])
def test_what_is_refused_says_why(users, home, args, stdin, message):
    refused = users(*args, input=stdin)

    assert refused.exit_code == 1
    assert message in " ".join(refused.output.split())
    assert airflow.recorded_users(home) == {}


def test_a_taken_name_is_refused_and_keeps_its_role_and_password(users, home):
    users("add", "team1", "--role", "viewer")
    before = airflow.passwords(home)["team1"]

    again = users("add", "team1", "--role", "admin")

    assert again.exit_code == 1
    assert "login 'team1' exists with role viewer: remove it first to give it another role" in again.output
    assert airflow.recorded_users(home) == {"team1": "viewer"} and airflow.passwords(home)["team1"] == before
