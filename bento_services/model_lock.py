"""One change at a time to a model's serving: promote, undeploy and reconcile take its lock.

Without it, a reconcile that read a deployment as running while a promote or an undeploy was
stopping it would start it again: an orphaned server, or the model's URL routed back to the
version just replaced. The lock is an advisory ``flock`` on a file in the model's deployments
folder, so it holds across the processes of one machine (the CLI, Airflow's task processes,
the serving worker that hosts the servers) and is released when its holder dies.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager

from registry.errors import ConflictError
from registry.settings import Settings

WAIT_SECONDS = 300.0  # a repair holding it (launch, health, parity) takes under two minutes


@contextmanager
def model_lock(name: str, settings: Settings, *, timeout: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold model ``name``'s serving lock, waiting up to ``timeout`` seconds for it."""
    path = settings.home / "deployments" / name / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConflictError(f"another deploy, undeploy or repair of model {name!r} has been running "
                                        f"for over {timeout:.0f} s; try again when it ends") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
