"""Reconcile, promote and undeploy of one model never interleave (bento_services.model_lock)."""

import threading
import time

import pytest

from bento_services.model_lock import model_lock
from bento_services.reconcile import reconcile
from registry.errors import ConflictError
from registry.metadata.db import session_scope
from registry.metadata.tables import Deployment


def _running_deployment(home) -> int:
    """A deployment recorded as running whose server is gone (no PIDs): reconcile would restart it."""
    with session_scope(home) as session:
        row = Deployment(model_name="churn", model_version=1, status="running", created_by="ana", pids=[], port=1,
                         bento_tag="churn:v1-20261201")
        session.add(row)
        session.flush()
        return row.id


def test_reconcile_waits_for_an_undeploy_in_progress_and_leaves_what_it_stopped_alone(home):
    deployment_id = _running_deployment(home)
    repairs = []
    with model_lock("churn", home):  # an undeploy in progress: it stops the server, then the record
        worker = threading.Thread(target=lambda: repairs.extend(reconcile(settings=home, actor="watch")))
        worker.start()
        time.sleep(1.0)
        assert worker.is_alive(), "reconcile did not wait for the model's lock"
        with session_scope(home) as session:
            session.get(Deployment, deployment_id).status = "stopped"
    worker.join(timeout=30)
    assert repairs == []  # nothing restarted behind the undeploy's back


def test_reconcile_still_repairs_what_is_running_once_it_has_the_lock(home):
    _running_deployment(home)
    (repair,) = reconcile(settings=home, actor="watch")
    # It tried: with the bento gone it rebuilds the version, which this bare record never registered.
    assert (repair.model_name, repair.action, repair.detail) == (
        "churn", "failed", "ModelNotFoundError: model 'churn' is not registered")


def test_a_lock_held_too_long_is_a_conflict_naming_the_model(home):
    with model_lock("churn", home), pytest.raises(ConflictError, match="'churn'"):
        with model_lock("churn", home, timeout=0.3):
            pass
    with model_lock("churn", home, timeout=0.3):  # released by its holder
        pass
