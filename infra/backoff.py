"""When to restart something that keeps dying: at once for the first few times, then after a wait
that doubles (bounded), and not at all after too many restarts within a window.

Plain data in, plain data out (the times of past restarts), so the same policy serves the
deployments' watchdog, which keeps its times in memory, and the platform's supervisor, which keeps
them in the services' run files and so survives its own restart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    window_s: float  # restarts older than this are forgotten
    free_restarts: int  # this many within the window happen at once
    first_wait_s: float  # the next one waits this long after the last, doubled for each further one
    max_wait_s: float
    max_restarts: int  # after this many within the window: give up

    def recent(self, times: list[float], now: float) -> list[float]:
        return [at for at in times if now - at < self.window_s]

    def wait_s(self, times: list[float], now: float) -> float:
        """Seconds still to wait before the next restart (0: it is due)."""
        recent = self.recent(times, now)
        if len(recent) < self.free_restarts:
            return 0.0
        wait = min(self.first_wait_s * 2 ** (len(recent) - self.free_restarts), self.max_wait_s)
        return max(0.0, max(recent) + wait - now)

    def exhausted(self, times: list[float], now: float) -> bool:
        """True once ``max_restarts`` happened within the window: leave it down and say why."""
        return len(self.recent(times, now)) >= self.max_restarts


UNBOUNDED = math.inf
