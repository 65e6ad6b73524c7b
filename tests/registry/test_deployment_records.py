"""What the Models page's list shows of each model's deployments, read from the records alone."""

from datetime import datetime, timedelta, timezone

import pytest

from registry.deployments import current_deployments, rollback_choices
from registry.metadata.db import session_scope
from registry.metadata.tables import Deployment

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _record(home, name, version, status, minutes, bento_tag=None):
    at = T0 + timedelta(minutes=minutes)
    with session_scope(home) as session:
        session.add(Deployment(model_name=name, model_version=version, status=status, created_by="ana",
                               created_at=at, updated_at=at, bento_tag=bento_tag))


def _shown(home) -> dict[str, tuple[int, str]]:
    return {name: (info.model_version, info.status)
            for name, info in current_deployments(settings=home, live=False).items()}


def test_a_running_deployment_is_shown_over_a_later_failed_one(home):
    _record(home, "churn", 1, "running", 0)
    _record(home, "churn", 2, "failed", 5)
    assert _shown(home) == {"churn": (1, "running")}


def test_without_one_running_the_deployment_that_changed_last_is_shown(home):
    _record(home, "churn", 1, "running", 0)
    _record(home, "churn", 2, "failed", 5)
    with session_scope(home) as session:  # then the user undeploys version 1
        first = session.get(Deployment, 1)
        first.status, first.updated_at = "stopped", T0 + timedelta(minutes=9)
    _record(home, "fraud", 1, "stopped", 1)
    _record(home, "fraud", 2, "failed", 3)
    assert _shown(home) == {"churn": (1, "stopped"), "fraud": (2, "failed")}


def test_a_rollback_goes_to_the_latest_earlier_version_served_and_says_when_there_is_none(home):
    _record(home, "churn", 1, "replaced", 0, bento_tag="churn_v1:a")
    _record(home, "churn", 2, "replaced", 5, bento_tag="churn_v2:a")
    _record(home, "churn", 3, "running", 9, bento_tag="churn_v3:a")
    _record(home, "fraud", 2, "replaced", 1, bento_tag="fraud_v2:a")  # the same version again: nothing earlier
    _record(home, "fraud", 1, "failed", 2, bento_tag="fraud_v1:a")  # never served
    _record(home, "fraud", 2, "running", 3, bento_tag="fraud_v2:b")
    _record(home, "idle", 1, "stopped", 0, bento_tag="idle_v1:a")  # nothing runs: no rollback at all
    choices = rollback_choices(settings=home)
    assert set(choices) == {"churn", "fraud"}
    assert (choices["churn"].to_version, choices["churn"].deployment_id, choices["churn"].possible) == (2, 2, True)
    assert (choices["fraud"].to_version, choices["fraud"].possible) == (None, False)
    assert choices["fraud"].reason == "no earlier deployed version to roll back to (version 2 is the only one)"
    assert rollback_choices(settings=home, model_name="fraud") == {"fraud": choices["fraud"]}


def test_a_rollback_never_goes_to_a_challenger_that_ended(home):
    """A challenger served behind the champion and was ended: it never was the model's version in
    production, so a rollback skips it (found in the Models page test: a rollback served the stump
    that had been challenged). A version whose bento is still building (a swap's) counts."""
    from registry.metadata.tables import Challenge

    _record(home, "churn", 1, "replaced", 0, bento_tag="churn_v1:a")
    _record(home, "churn", 3, "stopped", 2, bento_tag="churn_v3:a")  # the challenger, ended
    _record(home, "churn", 2, "running", 5)  # swapped in: its bento comes later
    with session_scope(home) as session:
        session.add(Challenge(model_name="churn", champion_version=1, challenger_version=3, deployment_id=2,
                              mode="shadow", percent=100.0, status="ended", started_by="ana"))
    choice = rollback_choices(settings=home)["churn"]
    assert (choice.to_version, choice.deployment_id) == (1, 1)


def test_a_swapped_deployment_shows_its_bento_building_then_why_it_failed_then_built(home, tmp_path):
    from bento_services.bento_build import build_for_deployment
    from registry.deployments import list_deployments, set_bento_tag
    from registry.metadata.events import events_for

    _record(home, "churn", 1, "running", 0)  # served before its bento (a swap's)
    [info] = list_deployments(settings=home, live=False)
    assert (info.bento_tag, info.bento_state) == (None, "building")
    with pytest.raises(Exception, match="missing"):
        build_for_deployment(tmp_path / "missing", "churn", 1, info.id, "ana")
    [info] = list_deployments(settings=home, live=False)
    assert info.bento_state == "failed" and "missing" in info.bento_error, info.bento_error
    with session_scope(home) as session:
        [event] = [event for event in events_for(session, model_name="churn") if event.action == "bento_build_failed"]
        assert event.details == {"deployment_id": info.id, "reason": info.bento_error}
    set_bento_tag(info.id, "churn:v1-abc", settings=home)  # a restart built it
    [info] = list_deployments(settings=home, live=False)
    assert (info.bento_state, info.bento_error) == ("built", None)
    _record(home, "fraud", 1, "failed", 1)
    assert next(d for d in list_deployments(settings=home, live=False) if d.model_name == "fraud").bento_state is None
