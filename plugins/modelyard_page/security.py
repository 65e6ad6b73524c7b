"""Who may do what: any Airflow login may read; changes need the op or admin role.

``is_authorized_custom_view`` lets every viewer through whatever the method, so it gates
nothing; ``is_authorized_pool(method="POST")`` is true for op and admin only, under any auth
manager (PLATFORM_NOTES), so that is the check. Every change also sends a JSON body (a
cross-site form post, which carries the user's cookie, cannot) and is written to Airflow's own
audit log as ``modelyard.<action>`` by the acting user.
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request
from airflow.api_fastapi.core_api.security import GetUserDep


def can_change(user) -> bool:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().is_authorized_pool(method="POST", user=user)


def role_of(user) -> str | None:
    """A SimpleAuthManager user has one role; a FAB user a list of them (``Op`` reads ``op``)."""
    role = getattr(user, "role", None)
    if role is None and getattr(user, "roles", None):
        return ", ".join(each.name.lower() for each in user.roles)
    return role


async def require_json(request: Request) -> None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "changes take a JSON body (Content-Type: application/json)")


def require_change_role(user: GetUserDep):  # an auth manager may ask its database: not in the event loop
    if not can_change(user):
        raise HTTPException(403, f"{user.get_name()} may not change models: that needs the op or admin role")
    return user


def change(action: str) -> list:
    """The dependencies of a changing route, in order: a JSON body, the role, then the audit log."""
    from modelyard_page.audit import audit

    return [Depends(require_json), Depends(require_change_role), Depends(audit(action))]
