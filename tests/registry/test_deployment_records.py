"""What the Models page's list shows of each model's deployments, read from the records alone."""

from datetime import datetime, timedelta, timezone

from registry.deployments import current_deployments
from registry.metadata.db import session_scope
from registry.metadata.tables import Deployment

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _record(home, name, version, status, minutes):
    at = T0 + timedelta(minutes=minutes)
    with session_scope(home) as session:
        session.add(Deployment(model_name=name, model_version=version, status=status, created_by="ana",
                               created_at=at, updated_at=at))


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
