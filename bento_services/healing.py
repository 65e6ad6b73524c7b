"""Deployments that heal themselves: every few seconds, each running deployment is checked and a
dead replica or gateway is started again from the same bento, with no one typing a command. A
gateway is dead when its master is: a dead worker is the master's to replace, in milliseconds.

The repair is ``reconcile``'s (under the model's lock, so a deploy and a repair never cross: while
a deploy holds it, the watchdog passes on); the watchdog adds the pace, patience and the bounds.
A replica whose server is gone is replaced at once; one that is alive but not ready (BentoML
restarting a worker it lost, a stall) gets ``NOT_READY_GRACE_S`` first, and meanwhile the
gateway's probe keeps traffic away from it. A replica that keeps dying is not restarted in a tight
loop: after ``RESTARTS_BEFORE_BACKOFF`` repairs of a deployment within ``WINDOW_S`` the next one
waits ``BACKOFF_S`` doubled each time, and after ``MAX_RESTARTS`` the deployment is left as it is
and marked degraded with the reason (an event says so), until it is deployed again.

The platform runs it as a service of its own (``modelyard up``), whether or not Airflow runs;
``reconcile_deployments`` stays the safety net under compose.

    python -m bento_services.healing --interval 2
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from dataclasses import dataclass, field

from infra.backoff import UNBOUNDED, Backoff
from registry.settings import Settings, get_settings

INTERVAL_S = 2.0
WINDOW_S = 300.0
RESTARTS_BEFORE_BACKOFF = 3
BACKOFF_S = 10.0
MAX_RESTARTS = 6
BACKOFF = Backoff(window_s=WINDOW_S, free_restarts=RESTARTS_BEFORE_BACKOFF, first_wait_s=BACKOFF_S,
                  max_wait_s=UNBOUNDED, max_restarts=MAX_RESTARTS)
NOT_READY_GRACE_S = 30.0
LOCK_WAIT_S = 1.0
ACTOR = "watchdog"
DEGRADED = "degraded"
logger = logging.getLogger(__name__)


@dataclass
class Watch:
    """What the watchdog remembers of one deployment: when it repaired it, and whether it gave up."""

    repairs: list[float] = field(default_factory=list)
    given_up: bool = False
    not_ready_since: dict[int, float] = field(default_factory=dict)  # by replica slot

    def patience(self, states: list[str], now: float) -> tuple[bool, list[int]]:
        """Whether a replica needs a repair now, and the not-ready slots still within their grace."""
        self.not_ready_since = {slot: self.not_ready_since.get(slot, now)
                                for slot, state in enumerate(states) if state == "not_ready"}
        tolerated = [slot for slot, since in self.not_ready_since.items() if now - since < NOT_READY_GRACE_S]
        return any(state == "dead" for state in states) or len(tolerated) < len(self.not_ready_since), tolerated

    def recent(self, now: float) -> list[float]:
        self.repairs = BACKOFF.recent(self.repairs, now)
        return self.repairs

    def due(self, now: float) -> bool:
        """False while backing off after repeated repairs, and once given up."""
        return not self.given_up and BACKOFF.wait_s(self.recent(now), now) == 0


@dataclass
class Watchdog:
    settings: Settings
    watches: dict[int, Watch] = field(default_factory=dict)

    def check_once(self, now: float | None = None) -> list:
        """One pass over the running deployments; returns the repairs made (``reconcile.Repair``)."""
        from bento_services.endpoints import gateway_running
        from bento_services.reconcile import latest_running, reconcile_model
        from registry.deployments import replica_state, replicas_of

        clock = time.monotonic if now is None else (lambda: now)
        now = clock()
        rows = {row.id: row for row in latest_running(self.settings).values()
                if not (row.status_reason or "").startswith(DEGRADED)}
        self.watches = {key: self.watches.get(key, Watch()) for key in rows}
        repairs = []
        for row in rows.values():
            watch = self.watches[row.id]
            replica_due, tolerated = watch.patience([replica_state(replica) for replica in replicas_of(row)], now)
            if not (replica_due or not gateway_running(row.model_name, self.settings)) or not watch.due(now):
                continue
            repair = reconcile_model(row, self.settings, ACTOR, tolerate=tolerated, lock_timeout=LOCK_WAIT_S)
            if repair is None or repair.action in ("ok", "busy"):
                continue
            repairs.append(repair)
            watch.repairs.append(clock())  # the backoff runs from a repair's end
            if BACKOFF.exhausted(watch.recent(clock()), clock()):
                watch.given_up = True
                mark_degraded(row.id, f"{len(watch.repairs)} repairs within {WINDOW_S:.0f} s; last: "
                                      f"{repair.action} {repair.detail}", self.settings)
        return repairs

    def run_forever(self, interval: float = INTERVAL_S) -> None:
        """Pass after pass until SIGTERM, which ends the loop between passes: a repair under way
        finishes (or stops what it started) rather than leave a server no record knows."""
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        while not stopping.is_set():
            started = time.monotonic()
            try:
                for repair in self.check_once():
                    logger.warning("%s/%s: %s %s", repair.model_name, repair.model_version, repair.action,
                                   repair.detail)
            except Exception:  # a database hiccup must not end the watch
                logger.exception("watchdog pass failed")
            stopping.wait(max(0.0, interval - (time.monotonic() - started)))
        logger.info("stopped")


def mark_degraded(deployment_id: int, reason: str, settings: Settings) -> None:
    """Keep the deployment running (its healthy replicas serve) but say it is degraded and why."""
    from registry.deployments import set_status

    set_status(deployment_id, reason=f"{DEGRADED}: {reason}", action="deployment_degraded", actor=ACTOR,
               details={"reason": reason[:2000]}, settings=settings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=INTERVAL_S, help="seconds between passes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    watchdog = Watchdog(settings)
    import numpy  # noqa: F401  a repair's parity check compares with them: imported now, not during one
    import pandas  # noqa: F401

    for repair in watchdog.check_once():  # also imports what a repair needs, before one is due
        logger.warning("%s/%s: %s %s", repair.model_name, repair.model_version, repair.action, repair.detail)
    logger.info("watching the deployments of %s every %.1f s", settings.home, args.interval)
    watchdog.run_forever(args.interval)


if __name__ == "__main__":
    main()
