"""Monitoring passes over request logs written in the contract's layout: drift injected into three
named features is flagged for exactly those, with an alert that reaches the webhook, an event and
MLflow; labels posted later show a degraded slice's metric drop in the window it was answered in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from pipelines.monitoring.labels import add_labels
from pipelines.monitoring.monitor import monitor_model
from pipelines.training import load_dataset
from registry.errors import InvalidFieldError
from registry.monitoring import runs_for, set_thresholds
from tests.pipelines.monitoring.logs import error_rows, requests_frame, write_log

NAME = "breast_cancer_classifier"
DRIFTED = ["mean_radius", "worst_texture", "mean_smoothness"]
HOUR = timedelta(hours=1)
T0 = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)


def _traffic(seed: int, start: datetime, *, rows: int = 800, drift: bool = False) -> pd.DataFrame:
    features, target = load_dataset("breast_cancer")
    picked = features.sample(rows, replace=True, random_state=seed)
    if drift:
        picked[DRIFTED] = picked[DRIFTED] * 2.5
    return requests_frame(picked, target.loc[picked.index], start=start, span=HOUR, classes=[0, 1], seed=seed)


@pytest.fixture(scope="module")
def windows(monitored):
    """Window 1 (10-11h) as in training; window 2 (11-12h) with three features drifted, a few refusals."""
    first, second = _traffic(1, T0), _traffic(2, T0 + HOUR, drift=True)
    write_log(monitored, NAME, 1, first)
    write_log(monitored, NAME, 1, second)
    write_log(monitored, NAME, 1, error_rows(4, start=T0 + HOUR, span=HOUR))
    return first, second


def test_a_window_like_training_raises_nothing(monitored, windows):
    record = monitor_model(monitored, NAME, now=T0 + HOUR, actor="test")
    figures = record.figures
    assert (record.window_start, record.window_end, record.model_version) == (T0, T0 + HOUR, 1)
    assert (figures.requests, figures.rows, figures.errors, figures.refused) == (800, 800, 0, 0)
    assert len(figures.feature_psi) == 30 and max(figures.feature_psi.values()) < 0.1
    assert figures.drifted_features == [] and figures.drifted_share == 0
    assert figures.prediction_psi < 0.1 and set(figures.prediction_mix) == {"0", "1"}
    assert 5 < figures.latency_p50_ms < 20 and figures.requests_per_min == pytest.approx(800 / 60)
    assert record.alerts == [] and figures.previous_psi == {}


def test_drift_in_three_features_flags_exactly_those_and_alerts(monitored, windows, webhook):
    from registry.metadata.db import session_scope
    from registry.metadata.events import events_for
    from registry.store import mlflow_client

    url, received = webhook
    set_thresholds(monitored, NAME, {"webhook_url": url}, actor="test")
    record = monitor_model(monitored, NAME, now=T0 + 2 * HOUR, actor="test")
    figures = record.figures
    assert figures.drifted_features == sorted(DRIFTED)
    assert figures.drifted_share == pytest.approx(3 / 30)
    assert all(figures.feature_psi[name] < 0.1 for name in figures.feature_psi if name not in DRIFTED)
    assert all(figures.previous_psi[name] >= 0.25 for name in DRIFTED)
    out_of_range = {name: quality.out_of_range for name, quality in figures.data_quality.items()}
    assert all(out_of_range[name] > 400 for name in DRIFTED)  # validation rows may lie a little beyond training
    assert all(count < 10 for name, count in out_of_range.items() if name not in DRIFTED)
    assert (figures.requests, figures.rows, figures.errors, figures.refused) == (804, 800, 0, 4)  # no alert
    assert [alert.rule for alert in record.alerts] == ["feature_psi"] * 3
    assert {alert.subject for alert in record.alerts} == set(DRIFTED)
    assert len(received) == 1 and all(name in received[0]["text"] for name in DRIFTED)
    with session_scope(monitored) as session:
        alerts = [event for event in events_for(session, model_name=NAME) if event.action == "alert"]
    assert sorted(event.details["subject"] for event in alerts) == sorted(DRIFTED)
    history = mlflow_client(monitored).get_metric_history(record.mlflow_run_id, "psi_mean_radius")
    assert [point.timestamp for point in history] == [int((T0 + HOUR).timestamp() * 1000),
                                                      int((T0 + 2 * HOUR).timestamp() * 1000)]


def test_late_labels_show_a_degraded_slice_in_the_window_it_was_answered_in(monitored, windows):
    first, second = windows
    third = _traffic(3, T0 + 2 * HOUR, rows=200)
    write_log(monitored, NAME, 1, third)
    predicted = "output_prediction"
    degraded = second.assign(label=1 - second[predicted])  # a slice answered wrongly: 40 % of window 2
    degraded.loc[degraded.index[320:], "label"] = second[predicted].iloc[320:]
    labels = pd.concat([first.assign(label=first[predicted]), degraded, third.assign(label=third[predicted])])
    added = add_labels(monitored, NAME, labels[["request_id", "label"]], actor="labeller")
    assert added.labels == 1800
    set_thresholds(monitored, NAME, {"metric_floors": {"accuracy": 0.8}}, actor="test")

    monitor_model(monitored, NAME, now=T0 + 3 * HOUR, actor="test")
    by_window = {record.window_start: record for record in runs_for(monitored, NAME, source="online")}
    accuracy = {start: record.figures.metrics.get("accuracy") for start, record in by_window.items()}
    assert accuracy[T0] == 1.0 and accuracy[T0 + 2 * HOUR] == 1.0
    assert accuracy[T0 + HOUR] == pytest.approx(0.6)
    assert by_window[T0 + HOUR].figures.labelled_rows == 800
    floors = [alert for alert in by_window[T0 + HOUR].alerts if alert.rule == "metric_floor"]
    assert [(alert.subject, round(alert.value, 2)) for alert in floors] == [("accuracy", 0.6)]
    assert all(alert.rule != "metric_floor" for start in (T0, T0 + 2 * HOUR) for alert in by_window[start].alerts)
    assert len(by_window[T0 + HOUR].alerts) == 4  # the drift alerts stay


@pytest.mark.parametrize(("frame", "field"), [
    (pd.DataFrame({"request_id": ["a"]}), "label"),
    (pd.DataFrame({"label": [1]}), "request_id"),
    (pd.DataFrame({"request_id": ["a", " "], "label": [1, 0]}), "request_id"),
    (pd.DataFrame({"request_id": ["a", "b"], "label": [1, None]}), "label"),
    (pd.DataFrame({"request_id": ["a"], "label": [1], "row": [-1]}), "row"),
    (pd.DataFrame({"request_id": ["a"], "label": [1], "row": ["x"]}), "row"),
])
def test_bad_labels_name_their_column_and_store_nothing(monitored, frame, field):
    from pipelines.monitoring.labels import labels_path

    with pytest.raises(InvalidFieldError) as raised:
        add_labels(monitored, "other_model", frame, actor="test")
    assert raised.value.field == field
    fs, folder = labels_path(monitored, "other_model")
    assert not fs.exists(folder)


def test_a_batch_run_joins_the_series_and_the_overview_keeps_the_online_alerts(monitored, windows):
    from pipelines.monitoring.batch import record_batch_run
    from pipelines.monitoring.overview import monitoring_overview
    from pipelines.scoring.schema import ScoringResult, ValidationSummary

    result = ScoringResult(
        run_id="r1", status="succeeded", model_name=NAME, model_version=1, input_path="/in", output_path="/out",
        rejects_path=None, policy="fail", rows_in=100, rows_scored=100, rows_rejected=0,
        started_at=T0 + 3 * HOUR, duration_s=5.0, rows_per_s=20.0,
        validation=ValidationSummary(success=True, expectations=3),
        prediction_summary={"class_shares": {"0": 0.4, "1": 0.6}}, drift={"mean_radius": 0.4, "mean_area": 0.02, "mean_texture": 0.01, "worst_area": 0.0})
    record = record_batch_run(monitored, result, actor="test")
    assert (record.source, record.scoring_run_id, record.figures.drifted_features) == ("batch", "r1", ["mean_radius"])
    assert [alert.subject for alert in record.alerts] == ["mean_radius"]

    overview = monitoring_overview(monitored, NAME)
    assert [r.source for r in overview.records] == ["online"] * 3 + ["batch"]
    assert overview.latest.window_end == T0 + 3 * HOUR and overview.next_window_start == T0 + 3 * HOUR
    assert overview.open_alerts == overview.latest.alerts and len(overview.features) == 30


def test_a_window_of_few_rows_records_its_drift_but_raises_no_drift_alert(monitored, windows):
    """60 requests: their PSI is mostly sampling noise, so drift is shown and noted, not alerted."""
    write_log(monitored, NAME, 1, _traffic(5, T0 + 4 * HOUR, rows=60, drift=True))
    record = monitor_model(monitored, NAME, now=T0 + 5 * HOUR, actor="test")
    assert record.figures.rows == 60 and set(DRIFTED) <= set(record.figures.drifted_features)
    assert [alert.rule for alert in record.alerts if alert.rule in ("feature_psi", "drifted_share")] == []
    assert any("60 scored rows, fewer than the 200" in note for note in record.figures.notes), record.figures.notes
