"""Monitoring a live deployment end to end: requests stream through a real two-replica deployment
(gateway, ``bentoml serve``), each replica logs them, and monitoring passes read the log.
Drift is injected from a known window into three named features: that window's pass flags
exactly those three and alerts. Labels posted afterwards, wrong for a slice of the drifted
window, show the metric drop in that window and not in the one before."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from bento_services.deploy import deploy_model, undeploy
from pipelines.demo import DRIFTED_FEATURES, send_demo_traffic, wait_until_logged
from pipelines.monitoring.labels import add_labels
from pipelines.monitoring.monitor import monitor_model
from registry.monitoring import runs_for
from registry.request_logs import read_request_log
from registry.settings import Settings
from tests.servers import free_port

pytestmark = pytest.mark.timeout(600)
NAME = "breast_cancer_classifier"


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Settings:
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path_factory.mktemp("live_monitoring"))
    train_demo_model(DEMO_MODELS[NAME], settings)
    deploy_model(f"{NAME}/1", port=free_port(), replicas=2, settings=settings)
    yield settings
    undeploy(NAME, settings=settings)


def _send_and_wait_logged(settings: Settings, prefix: str, requests: int, *, drift: bool):
    """Send the traffic, then wait until each replica has flushed every request of it."""
    sent = send_demo_traffic(NAME, settings, requests=requests, drift_after=0.0 if drift else 1.0,
                             id_prefix=prefix, seed=len(prefix) + requests)
    wait_until_logged(NAME, prefix, requests, settings)
    return sent, datetime.now(timezone.utc)


def test_drift_from_a_known_window_is_flagged_for_exactly_its_features_and_late_labels_land_in_it(live):
    clean, clean_end = _send_and_wait_logged(live, "clean", 200, drift=False)
    first = monitor_model(live, NAME, now=clean_end, actor="test")
    assert first.figures.requests >= 200 and first.figures.errors == 0  # the deploy's own checks add a few
    assert first.figures.drifted_features == [] and first.alerts == []
    assert set(first.figures.feature_psi) == set(read_request_log(live, NAME).filter(like="input_").columns
                                                 .str.removeprefix("input_"))

    drifted, drifted_end = _send_and_wait_logged(live, "drifted", 200, drift=True)
    second = monitor_model(live, NAME, now=drifted_end, actor="test")
    assert second.figures.requests == 200 and second.window_start == clean_end
    assert second.figures.drifted_features == sorted(DRIFTED_FEATURES)
    assert sorted(alert.subject for alert in second.alerts if alert.rule == "feature_psi") == sorted(DRIFTED_FEATURES)
    assert {alert.rule for alert in second.alerts} == {"feature_psi"}

    truth = pd.read_parquet(clean.labels)
    wrong = pd.read_parquet(drifted.labels)
    slice_ = wrong.index[: len(wrong) * 2 // 5]  # 40 % of the drifted window's labels are the other class
    wrong.loc[slice_, "label"] = 1 - wrong.loc[slice_, "label"]
    add_labels(live, NAME, pd.concat([truth, wrong], ignore_index=True), actor="test")

    _, last_end = _send_and_wait_logged(live, "later", 20, drift=False)
    monitor_model(live, NAME, now=last_end, actor="test")
    windows = {record.window_end: record.figures for record in runs_for(live, NAME, source="online")}
    before, during = windows[clean_end], windows[drifted_end]
    assert before.labelled_rows == 200 and during.labelled_rows == 200
    assert before.metrics["accuracy"] > 0.9
    assert during.metrics["accuracy"] < before.metrics["accuracy"] - 0.3
