"""The watchdog's bounds: repairs back off, then stop with the deployment marked degraded."""

from __future__ import annotations

from bento_services import healing
from bento_services.healing import BACKOFF_S, MAX_RESTARTS, RESTARTS_BEFORE_BACKOFF, WINDOW_S, Watch


def test_repairs_back_off_doubling_after_a_few_then_stop():
    watch = Watch()
    assert watch.due(0.0)
    watch.repairs = [1.0 * n for n in range(RESTARTS_BEFORE_BACKOFF)]
    last = watch.repairs[-1]
    assert not watch.due(last + BACKOFF_S - 0.1) and watch.due(last + BACKOFF_S)
    watch.repairs.append(last + BACKOFF_S)
    assert not watch.due(last + BACKOFF_S + 2 * BACKOFF_S - 0.1) and watch.due(last + 3 * BACKOFF_S)
    watch.given_up = True
    assert not watch.due(last + WINDOW_S * 10)


def test_old_repairs_leave_the_window():
    watch = Watch(repairs=[0.0] * (MAX_RESTARTS - 1))
    assert watch.due(WINDOW_S + 1) and watch.recent(WINDOW_S + 1) == []


def test_a_degraded_deployment_keeps_running_and_says_why(tmp_path):
    from registry.deployments import Replica, list_deployments, record_running
    from registry.metadata.db import session_scope
    from registry.metadata.events import events_for
    from registry.settings import Settings

    settings = Settings(home=tmp_path)
    info = record_running(model_name="m", model_version=1, bento_tag="m:v1", replicas=[Replica(port=1, processes=[])],
                          url="http://127.0.0.1:2", action="deployed", actor="me", request_id=None,
                          settings=settings)
    healing.mark_degraded(info.id, "6 repairs within 300 s", settings)
    [row] = list_deployments(settings=settings, live=False)
    assert (row.status, row.status_reason) == ("running", "degraded: 6 repairs within 300 s")
    with session_scope(settings) as session:
        assert [event.action for event in events_for(session, model_name="m")][0] == "deployment_degraded"


def test_a_replica_not_ready_gets_its_grace_a_dead_one_none():
    watch = Watch()
    assert watch.patience(["ready", "ready"], 0.0) == (False, [])
    assert watch.patience(["not_ready", "ready"], 1.0) == (False, [0])  # a worker restarting
    assert watch.patience(["not_ready", "ready"], 1.0 + healing.NOT_READY_GRACE_S - 0.1) == (False, [0])
    assert watch.patience(["not_ready", "ready"], 1.0 + healing.NOT_READY_GRACE_S) == (True, [])
    assert watch.patience(["ready", "ready"], 100.0) == (False, [])  # back: the clock starts again
    assert watch.patience(["not_ready", "ready"], 101.0) == (False, [0])
    assert watch.patience(["not_ready", "dead"], 102.0) == (True, [0])
