"""``modelyard users``: who may log in to Airflow and the Models page, with which role (``stack.logins``)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli.common import JsonOption, handles_errors
from cli.output import console, show

users = typer.Typer(no_args_is_help=True, help="Logins of the platform's Airflow and Models page, one role each.")

NameArgument = Annotated[str, typer.Argument(help="The login name.")]
PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from stdin (its first line) instead of generating one.")]


@users.command("add")
@handles_errors
def add(
    name: NameArgument,
    role: Annotated[str, typer.Option(help="viewer (reads), user (also triggers DAG runs in Airflow), op or admin "
                                           "(also deploy and change models on the Models page).")],
    password_stdin: PasswordStdin = False,
    as_json: JsonOption = False,
):
    """Add a login; its generated password is printed this once. Effective when the command returns
    (a running api-server is restarted for it: scheduler and tasks are not)."""
    from registry.settings import get_settings
    from stack.logins import add_login

    show(add_login(get_settings(), name, role, password=_stdin_password() if password_stdin else None), as_json,
         _print_change)


@users.command("list")
@handles_errors
def list_(as_json: JsonOption = False):
    """Every login with its role and where it is kept."""
    from cli.output import logins_table
    from registry.settings import get_settings
    from stack.logins import list_logins

    show(list_logins(get_settings()), as_json, logins_table)


@users.command("remove")
@handles_errors
def remove(name: NameArgument, as_json: JsonOption = False):
    """Remove a login (not admin, the platform's own). Effective when the command returns."""
    from registry.settings import get_settings
    from stack.logins import remove_login

    show(remove_login(get_settings(), name), as_json, _print_change)


@users.command("password")
@handles_errors
def password(name: NameArgument, password_stdin: PasswordStdin = False, as_json: JsonOption = False):
    """Give a login a new password, generated and printed this once unless read from stdin."""
    from registry.settings import get_settings
    from stack.logins import change_password

    show(change_password(get_settings(), name, password=_stdin_password() if password_stdin else None), as_json,
         _print_change)


def _stdin_password() -> str:
    """The first line of stdin, without its line ending (an empty one is refused by the service)."""
    return sys.stdin.readline().rstrip("\r\n")


def _print_change(change) -> None:
    login = change.login
    console.print(f"login {login.name} ({login.role}): {change.action}", highlight=False)
    if change.password:
        console.print(f"password: {change.password}", highlight=False, soft_wrap=True)
        console.print("[dim]it is shown this once; `modelyard users password` sets a new one[/dim]")
    console.print(_effect(change), highlight=False, soft_wrap=True)


def _effect(change) -> str:
    if change.api_server == "restarted":
        return (f"api-server restarted to load the changed logins ({change.restart_seconds:.1f} s; the scheduler, "
                "dag-processor and running tasks were not touched)")
    if change.api_server == "not running":
        return "the platform is not running: the change takes effect at the next `modelyard up`"
    if change.auth_manager == "fab":
        return "effective at once (FAB auth manager)"
    return "effective at once (the password is read at each login)"
