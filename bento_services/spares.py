"""Warm spares: the next version of a serving model loads into servers that have already started.

A new ``bentoml serve`` spends seconds importing the serving stack, MLflow and the model's
libraries before its first answer, and a CLI process spends 5 s importing MLflow before it can
resolve a version. So after each deploy, a serving model keeps one spare server per replica: the
project's service in spare mode (``ModelService`` with ``MODELYARD_SERVE_SPARE``), which imports
all of that and serves nothing. A deploy or rollback takes the spares, asks the first to prepare
the version (resolve, download, load, choose its runtime, snapshot: ``bento_services.warm_load``)
and the others to load that snapshot, checks them as any replica, and switches the gateway
(``bento_services.swaps``). New spares start in the background for the swap after.

The spares of a model are recorded in its deployments folder (``spares.json``), by PID and start
time, with the token their admin routes require; they are stopped by PID.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from bento_services import endpoints
from bento_services.servers import serve_spare, stop_server, stop_servers
from bento_services.warm_load import ADMIN_HEADER
from infra.processes import Process, children, is_running
from infra.probes import local_url
from registry.deployments import Replica
from registry.files import write_atomic
from registry.settings import Settings

SPARES_FILE = "spares.json"
LOAD_TIMEOUT = 300.0  # a prepare downloads, loads, compiles and measures the version
WARMING_WAIT = 30.0  # a swap waits this long for spares still starting; new servers take longer
STOP_TIMEOUT = 2.0  # SIGTERM to SIGKILL for a spare, which serves no client


class Spare(BaseModel):
    """A spare server: its port, its processes (leader first) and its admin token."""

    port: int
    processes: list[dict[str, Any]]
    token: str

    @property
    def url(self) -> str:
        return local_url(self.port)

    def process_list(self) -> list[Process]:
        return [Process(**record) for record in self.processes]

    def as_replica(self) -> Replica:
        """The spare as a replica of the version it loaded, with the workers its leader forked."""
        known = {record["pid"] for record in self.processes}
        workers = [asdict(child) for child in children(self.process_list()[0]) if child.pid not in known]
        return Replica(port=self.port, processes=self.processes + workers)


class SpareLoadError(RuntimeError):
    """A spare refused or failed to load a version: its message, the error's ``kind`` (its class
    name) and the ``version`` it had resolved (None: it failed before knowing one)."""

    def __init__(self, message: str, kind: str | None = None, version: int | None = None):
        self.kind, self.version = kind, version
        super().__init__(message)


def spares_file(name: str, settings: Settings) -> Path:
    return settings.home / "deployments" / name / SPARES_FILE


def recorded(name: str, settings: Settings) -> list[Spare]:
    try:
        return [Spare.model_validate(item) for item in json.loads(spares_file(name, settings).read_text())]
    except (OSError, ValueError):
        return []


def _record(name: str, spares: list[Spare], settings: Settings) -> None:
    path = spares_file(name, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps([spare.model_dump() for spare in spares]).encode())
    os.chmod(path, 0o600)  # the tokens


def start_spares(name: str, count: int, settings: Settings) -> list[Spare]:
    """Up to ``count`` spares for model ``name``: those still running are kept, the rest started
    (not waited for: they warm up in the background). Nothing when ``serve_spares`` is off."""
    if not settings.serve_spares:
        return []
    alive = [spare for spare in recorded(name, settings) if is_running(spare.process_list()[0])]
    for _ in range(count - len(alive)):
        port, token = endpoints.spare_port(), secrets.token_urlsafe(24)
        alive.append(Spare(port=port, processes=[asdict(serve_spare(name, port, token, settings))], token=token))
    _record(name, alive[:count], settings)
    for extra in alive[count:]:
        stop_server(extra.process_list(), STOP_TIMEOUT)
    return alive[:count]


def give_back(name: str, spares: list[Spare], settings: Settings) -> None:
    """Return spares a swap took but did not use (still spares) to the record."""
    _record(name, recorded(name, settings) + spares, settings)


def take_ready(name: str, count: int, settings: Settings, *, wait: float = 0.0) -> list[Spare] | None:
    """``count`` spares of ``name`` that run and answer as spares, taken out of the record (the swap
    that took them owns them now); None, taking none, when fewer are ready. Spares that run but
    are still warming (a rollback right after a deploy) are waited for up to ``wait`` seconds:
    a spare is ready sooner than new servers would be."""
    if not settings.serve_spares or count < 1:
        return None
    deadline = time.monotonic() + wait
    while True:
        spares = recorded(name, settings)
        ready = [spare for spare in spares if is_ready(spare)][:count]
        if len(ready) == count:
            break
        warming = [spare for spare in spares if is_running(spare.process_list()[0])]
        if len(warming) < count or time.monotonic() > deadline:
            return None
        time.sleep(0.2)
    _record(name, [spare for spare in spares if spare not in ready], settings)
    return ready


def is_ready(spare: Spare) -> bool:
    if not is_running(spare.process_list()[0]):
        return False
    try:
        answer = httpx.get(f"{spare.url}/-/spare", timeout=2.0)
        return answer.status_code == 200 and answer.json().get("spare") is True
    except (httpx.HTTPError, ValueError):
        return False


def stop_spares(name: str, settings: Settings) -> list[Process]:
    """Stop every spare of model ``name`` by PID and forget them. A spare answers no client, so
    there is nothing to drain: what has not exited ``STOP_TIMEOUT`` seconds after SIGTERM is
    killed (one still importing its libraries held an undeploy for about 5 s)."""
    stopped = stop_servers([spare.process_list() for spare in recorded(name, settings)], timeout=STOP_TIMEOUT)
    spares_file(name, settings).unlink(missing_ok=True)
    return stopped


def load(spare: Spare, ref: str, *, prepare: bool, runtime: str = "auto", actor: str | None = None) -> dict:
    """Ask ``spare`` to load ``ref`` (``bento_services.warm_load``); the ``Build`` it answers, as JSON."""
    body = {"ref": ref, "prepare": prepare, "runtime": runtime, "actor": actor}
    return _admin(spare, "/-/load", body, LOAD_TIMEOUT)["build"]


def move_alias(spare: Spare, ref: str, alias: str, actor: str) -> None:
    """Move a registry alias through a server that was a spare: it has MLflow imported."""
    _admin(spare, "/-/alias", {"ref": ref, "alias": alias, "actor": actor}, 60.0)


def _admin(spare: Spare, path: str, body: dict, timeout: float) -> dict:
    try:
        answer = httpx.post(f"{spare.url}{path}", json=body, headers={ADMIN_HEADER: spare.token}, timeout=timeout)
    except httpx.HTTPError as error:
        raise SpareLoadError(f"the spare at {spare.url} did not answer {path}: {type(error).__name__}: {error}") from error
    if answer.status_code != 200:
        try:
            problem = answer.json()
        except ValueError:
            problem = {"error": answer.text}
        raise SpareLoadError(str(problem.get("error") or answer.text)[:4000], problem.get("kind"),
                             problem.get("version"))
    return answer.json()
