"""The deployments' watchdog as a platform service: one process (``bento_services.healing``'s
loop) that checks every running deployment every few seconds and repairs what died, and, in a
thread of its own that a long repair does not hold up, restarts the platform's supervisor within
a second or two of its death (the supervisor restarts this one); a third thread is the
challenges' judge (``pipelines.challenges.judge``), which ends a failing canary or promotes a
winning challenger by its rule.

It runs on every machine that hosts model servers, whatever else the settings replace; under
compose, the serving worker's ``reconcile_deployments`` DAG is the safety net beside it.

    python -m stack.watchdog --interval 2
"""

from __future__ import annotations

import threading

from registry.settings import Settings
from stack import service

SERVICE = "watchdog"
PROCESS = "deployment-watchdog"
READY_LINE = "watching the deployments"  # bento_services.healing logs it after its first pass


def replaced_by(settings: Settings) -> str | None:
    return None


# Healthy once it watches, the supervisor's keeper running already.
_SERVICE = service.PythonProcessService(SERVICE, PROCESS, "stack.watchdog", READY_LINE, "the deployment watchdog")
command, start, relaunch, health = _SERVICE.command, _SERVICE.start, _SERVICE.relaunch, _SERVICE.health


def urls(settings: Settings) -> dict[str, str]:
    return {}


def main(argv: list[str] | None = None) -> None:
    from registry.settings import get_settings
    from stack import platform  # noqa: F401  what a restart of the supervisor needs, imported first
    from stack.supervisor import keep_supervisor

    stopping = threading.Event()
    keeper = threading.Thread(target=keep_supervisor, args=(get_settings(), stopping), name="keep-supervisor")
    keeper.start()  # before the deployments' watch, whose start imports for seconds
    judge = threading.Thread(target=_judge_challenges, args=(stopping,), name="challenge-judge", daemon=True)
    judge.start()
    try:
        from bento_services.healing import main as watch_deployments

        watch_deployments(argv)  # returns on SIGTERM
    finally:
        stopping.set()
        keeper.join()  # never exit amid a restart of the supervisor
        judge.join(timeout=30.0)  # a promotion under way finishes


def _judge_challenges(stopping: threading.Event) -> None:
    from pipelines.challenges.judge import judge_forever
    from registry.settings import get_settings

    judge_forever(get_settings(), stopping)


if __name__ == "__main__":
    main()
