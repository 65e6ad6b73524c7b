"""Who may log in to the platform's Airflow and Models page, and with which role.

Under SimpleAuthManager (the embedded default) the logins are Modelyard's: names and roles in
``$MODELYARD_HOME/airflow/users.json``, passwords in the file SimpleAuthManager reads at each
login, both owner-only. Airflow reads the *set* of users and their roles only when its
api-server starts (``SimpleAuthManager.get_users`` reads its configuration, which comes from the
environment), so adding or removing a login restarts the api-server alone: the scheduler, the
dag-processor and the tasks they run keep going. A new password needs no restart (the file is
read at each login). Under the FAB auth manager the logins live in FAB's database and are
changed with ``airflow users``, effective at once.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from infra import processes
from registry.errors import ConflictError, InvalidFieldError, ModelyardError
from stack import airflow, service

if TYPE_CHECKING:
    from registry.settings import Settings

ROLES = tuple(airflow.FAB_ROLES)  # viewer, user, op, admin: each may do what the one before may, and more
# What SimpleAuthManager can parse from "name:role,name:role" and FAB stores as a username.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
API_SERVER_TIMEOUT = 180.0  # seconds for a restarted api-server to answer healthy (15-45 s here)


class LoginError(ModelyardError):
    """A login that cannot be found, added or changed as asked."""


class Login(BaseModel):
    """One login: ``platform`` is Modelyard's own ``admin``; ``added`` one recorded under the home
    (SimpleAuthManager); ``fab`` one in FAB's database."""

    name: str
    role: str
    source: Literal["platform", "added", "fab"]


class LoginChange(BaseModel):
    """What a change did and when it takes effect.

    ``password`` is the generated one, returned this once (None when the caller gave it).
    ``api_server``: ``restarted`` (it now knows the change, after ``restart_seconds``),
    ``not running`` (the next ``modelyard up`` loads it) or ``not needed`` (effective at once)."""

    login: Login
    action: Literal["added", "removed", "password changed"]
    auth_manager: Literal["simple", "fab"]
    api_server: Literal["restarted", "not running", "not needed"]
    restart_seconds: float | None = None
    password: str | None = Field(default=None, repr=False)


def list_logins(settings: Settings) -> list[Login]:
    """Every login of the platform's Airflow, ``admin`` first."""
    if _uses_fab():
        return _fab_logins(settings)
    return [Login(name=airflow.USERNAME, role="admin", source="platform"),
            *(Login(name=name, role=role, source="added") for name, role in airflow.recorded_users(settings).items())]


def add_login(settings: Settings, name: str, role: str, *, password: str | None = None) -> LoginChange:
    """A new login with ``role``; its password is ``password``, else generated and returned once."""
    _check_name(name)
    if role not in ROLES:
        raise InvalidFieldError(f"unknown role {role!r}: choose viewer, user, op or admin", field="role")
    chosen, shown = _password(password)
    login = Login(name=name, role=role, source="fab" if _uses_fab() else "added")
    if _uses_fab():
        _fab_create(settings, name, role, chosen)
        return _fab_change(login, "added", shown)
    with airflow.logins_locked(settings):
        users, known = _simple_logins(settings)
        if name in users:
            raise ConflictError(f"login {name!r} exists with role {users[name]}: remove it first to give it "
                                "another role", field="login")
        airflow.record_users(settings, {**users, name: role}, {**known, name: chosen})
    return _simple_change(settings, login, "added", shown)


def remove_login(settings: Settings, name: str) -> LoginChange:
    """Remove a login: it can no longer log in (a session it opened lasts until its token expires)."""
    _refuse_platform_login(name, "removed")
    if _uses_fab():
        role = _fab_delete(settings, name)
        return _fab_change(Login(name=name, role=role, source="fab"), "removed", None)
    with airflow.logins_locked(settings):
        users, known = _simple_logins(settings)
        if name not in users:
            raise LoginError(f"no login {name!r}: the logins are {', '.join([airflow.USERNAME, *users])}",
                             field="login")
        role = users.pop(name)
        known.pop(name, None)
        airflow.record_users(settings, users, known)  # the password goes first: it fails at once
    return _simple_change(settings, Login(name=name, role=role, source="added"), "removed", None)


def change_password(settings: Settings, name: str, *, password: str | None = None) -> LoginChange:
    """Give a login a new password (``password``, else generated and returned once); the old one
    stops working at once, and no restart is needed."""
    chosen, shown = _password(password)
    if _uses_fab():
        role = _fab_reset_password(settings, name, chosen)
        if name == airflow.USERNAME:
            _keep_platform_password(settings, chosen)
        return _fab_change(Login(name=name, role=role, source="platform" if name == airflow.USERNAME else "fab"),
                           "password changed", shown)
    with airflow.logins_locked(settings):
        users, known = _simple_logins(settings)
        users = {airflow.USERNAME: "admin", **users}
        if name not in users:
            raise LoginError(f"no login {name!r}: the logins are {', '.join(users)}", field="login")
        airflow.record_users(settings, {n: r for n, r in users.items() if n != airflow.USERNAME}, {**known, name: chosen})
    source = "platform" if name == airflow.USERNAME else "added"
    return LoginChange(login=Login(name=name, role=users[name], source=source), action="password changed",
                       auth_manager="simple", api_server="not needed", password=shown)


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise InvalidFieldError(f"login name {name!r} is not allowed: 1-64 letters, digits, '.', '_', '@' or '-', "
                                "starting with a letter or digit", field="login")
    _refuse_platform_login(name, "added again")


def _refuse_platform_login(name: str, what: str) -> None:
    if name == airflow.USERNAME:
        raise ConflictError(f"login {name!r} is the platform's own and cannot be {what} "
                            "(its password can be changed)", field="login")


def _password(given: str | None) -> tuple[str, str | None]:
    """The password to set and the one to show: a given one (refused when empty) is never shown;
    a generated one is shown this once."""
    if given is None:
        generated = secrets.token_urlsafe(16)
        return generated, generated
    if not given:
        raise InvalidFieldError("the password is empty", field="password")
    return given, None


def _simple_logins(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """The recorded logins and the passwords file (created with admin's password the first time)."""
    airflow.airflow_env(settings)  # creates the secrets and admin's password once
    return airflow.recorded_users(settings), airflow.passwords(settings)


def _simple_change(settings: Settings, login: Login, action: str, password: str | None) -> LoginChange:
    """Restart the running api-server so it loads the changed set of logins."""
    restarted = _restart_api_server(settings, f"logins changed: {login.name} {action}")
    return LoginChange(login=login, action=action, auth_manager="simple", password=password,
                       api_server="not running" if restarted is None else "restarted", restart_seconds=restarted)


def _restart_api_server(settings: Settings, reason: str) -> float | None:
    """Seconds the running api-server took to restart and answer healthy again; None when the
    platform's Airflow does not run (the next start loads the logins)."""
    launched, _ = service.recorded(settings, airflow.SERVICE)
    if not any(p.name == "api-server" and processes.is_running(p) for p in launched):
        return None
    from stack.platform import restart_process

    started = time.monotonic()
    restart_process(settings, airflow.SERVICE, "api-server", reason=reason)
    airflow.wait_for_api_server(settings, timeout=API_SERVER_TIMEOUT)
    return round(time.monotonic() - started, 1)


# FAB: the same operations through `airflow users`, with the platform's environment.

def _uses_fab() -> bool:
    return airflow.auth_manager() != airflow.SIMPLE_AUTH_MANAGER


def _fab_change(login: Login, action: str, password: str | None) -> LoginChange:
    return LoginChange(login=login, action=action, auth_manager="fab", api_server="not needed", password=password)


def _airflow_users(settings: Settings, *args: str) -> str:
    """Run ``airflow users ARGS`` (values as --option=value: a password may start with '-');
    its output, or a LoginError with the end of it."""
    env = airflow.airflow_env(settings, api_port=settings.airflow_port)
    done = subprocess.run([str(processes.SCRIPTS / "airflow"), "users", *args], env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        missing = re.search(r'User "[^"]*" does not exist', output)
        raise LoginError(missing.group(0) if missing else f"airflow users {args[0]} failed:\n{output[-2000:]}",
                         field="login")
    return output


def _fab_logins(settings: Settings) -> list[Login]:
    with tempfile.TemporaryDirectory() as folder:
        exported = Path(folder) / "users.json"
        _airflow_users(settings, "export", str(exported))
        found = json.loads(exported.read_text())
    logins = [Login(name=user["username"], role=_role_of(user["roles"]),
                    source="platform" if user["username"] == airflow.USERNAME else "fab") for user in found]
    return sorted(logins, key=lambda login: login.source != "platform")


def _role_of(fab_roles: list[str]) -> str:
    """The highest Modelyard role among a FAB user's roles, else its first FAB role as named."""
    ours = {fab: role for role, fab in airflow.FAB_ROLES.items()}
    mapped = [ours[name] for name in fab_roles if name in ours]
    return max(mapped, key=ROLES.index) if mapped else (fab_roles[0] if fab_roles else "none")


def _fab_role(settings: Settings, name: str) -> str:
    found = {login.name: login for login in _fab_logins(settings)}
    if name not in found:
        raise LoginError(f"no login {name!r}: the logins are {', '.join(found)}", field="login")
    return found[name].role


def _fab_create(settings: Settings, name: str, role: str, password: str) -> None:
    output = _airflow_users(settings, "create", f"--username={name}", f"--role={airflow.FAB_ROLES[role]}",
                            f"--password={password}", f"--email={name}@localhost", f"--firstname={name}",
                            "--lastname=modelyard")
    if "already exists" in output:
        raise ConflictError(f"login {name!r} exists with role {_fab_role(settings, name)}: remove it first to give "
                            "it another role", field="login")


def _fab_delete(settings: Settings, name: str) -> str:
    role = _fab_role(settings, name)
    _airflow_users(settings, "delete", f"--username={name}")
    return role


def _fab_reset_password(settings: Settings, name: str, password: str) -> str:
    role = _fab_role(settings, name)
    _airflow_users(settings, "reset-password", f"--username={name}", f"--password={password}")
    return role


def _keep_platform_password(settings: Settings, password: str) -> None:
    """``admin``'s password is also the one Modelyard's own commands log in with."""
    with airflow.logins_locked(settings):
        users, known = _simple_logins(settings)
        airflow.record_users(settings, users, {**known, airflow.USERNAME: password})
