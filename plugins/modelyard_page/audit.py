"""Every change the page's API makes is written to Airflow's own audit log (``modelyard.<action>``).

Airflow's ``action_logging`` does this from an ``async`` dependency that commits in the event
loop. On SQLite that commit waits for the database's one write lock, and the lock may be held by
an execution-API request of the same api-server whose commit needs that very event loop: every
request, the scheduler's and the tasks' included, then stalls until SQLite's busy timeout (60 s
seen in CI). So the body is read in the loop and the row is written from a worker thread.
"""

from __future__ import annotations

import json

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from airflow.api_fastapi.core_api.security import GetUserDep


def audit(action: str):
    """A dependency that records ``modelyard.<action>`` by the acting user, with the request's
    path parameters, JSON body (secrets masked) and method, before the route runs."""

    async def record(request: Request, user: GetUserDep) -> None:
        from airflow._shared.secrets_masker import secrets_masker

        extra = {key: secrets_masker.redact(value, key) for key, value in request.path_params.items()}
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None  # the route's own validation names what is wrong with it
        if isinstance(body, dict):
            extra |= {key: secrets_masker.redact(value, key) for key, value in body.items()}
        extra["method"] = request.method
        await run_in_threadpool(_write, f"modelyard.{action}", user.get_name(), extra)

    return record


def _write(event: str, owner: str, extra: dict) -> None:
    from airflow.models import Log
    from airflow.utils.session import create_session

    with create_session() as session:
        session.add(Log(event=event, owner=owner, owner_display_name=owner, extra=json.dumps(extra, default=str)))
