"""Copies of scoring requests, waiting their turn to be sent in the background.

A copy nobody waits for must cost the champion no more than its hand-off. A shadow challenger
gets CPU only when the champion leaves some (``infra.processes.set_background``), so under
load its copies are queued rather than sent at once, and a few lanes (each one request at a
time, on kept connections) send them in arrival order as the challenger takes them: it catches
up when the load eases instead of losing copies, and its server never holds more than ``lanes``
connections for them. The queue is bounded by count and by bytes; a copy over the bound is
refused (the gateway counts it dropped), never an error for the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

LANES = 4
MAX_QUEUED = 10_000  # copies waiting or being sent
MAX_QUEUED_BYTES = 64 * 1024 * 1024  # their bodies

Job = Callable[[], Awaitable[None]]


class MirrorQueue:
    """Jobs (one copy each) run by ``lanes`` tasks in arrival order, within the bounds."""

    def __init__(self, *, lanes: int = LANES, max_queued: int = MAX_QUEUED, max_bytes: int = MAX_QUEUED_BYTES):
        self.lanes, self.max_queued, self.max_bytes = lanes, max_queued, max_bytes
        self.waiting = 0  # queued, not yet taken by a lane
        self.sending = 0
        self.bytes = 0
        self._jobs: asyncio.Queue[tuple[int, Job] | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._closed = False

    @property
    def pending(self) -> int:
        return self.waiting + self.sending

    def offer(self, size: int, job: Job) -> bool:
        """Queue ``job`` (a copy of ``size`` body bytes); False, and nothing queued, over a bound
        or once closed."""
        if self._closed or self.pending >= self.max_queued or self.bytes + size > self.max_bytes:
            return False
        if not self._tasks:  # lanes start with the first copy: a route is read before the loop runs
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._lane()) for _ in range(self.lanes)]
        self.waiting += 1
        self.bytes += size
        self._jobs.put_nowait((size, job))
        return True

    def close(self) -> None:
        """Take no more copies; the lanes stop once what is queued is sent."""
        if self._closed:
            return
        self._closed = True
        for _ in self._tasks:
            self._jobs.put_nowait(None)

    def cancel(self) -> None:
        """Stop now: what is queued is never sent (the gateway is shutting down)."""
        self._closed = True
        for task in self._tasks:
            task.cancel()

    async def _lane(self) -> None:
        while (item := await self._jobs.get()) is not None:
            size, job = item
            self.waiting -= 1
            self.bytes -= size
            self.sending += 1
            try:
                await job()
            except Exception as error:  # a fault in one copy must not stop the lane for the rest
                print(f"gateway: a copy failed unexpectedly: {type(error).__name__}: {error}", flush=True)
            finally:
                self.sending -= 1
