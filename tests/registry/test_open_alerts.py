"""Which monitoring window's alerts are open: the newest that saw requests. A pass over an hour
nobody called the model in finds nothing, which is no sign that a drift has gone away."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from registry.monitoring import Alert, Figures, latest_records, record_run
from registry.settings import Settings

T0 = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
DRIFT = Alert(rule="feature_psi", message="mean_radius drifted", value=0.6, threshold=0.25, subject="mean_radius")


def _window(settings: Settings, name: str, hour: int, requests: int, alerts: list[Alert]) -> None:
    start = T0 + timedelta(hours=hour)
    record_run(settings, model_name=name, model_version=1, source="online", window_start=start,
               window_end=start + timedelta(hours=1), figures=Figures(requests=requests), alerts=alerts)


def _check(settings: Settings) -> None:
    from pipelines.monitoring.overview import monitoring_overview

    _window(settings, "drifted", 0, 500, [])
    _window(settings, "drifted", 1, 400, [DRIFT])
    _window(settings, "drifted", 2, 0, [])  # the night: no request
    _window(settings, "recovered", 0, 300, [DRIFT])
    _window(settings, "recovered", 1, 300, [])
    _window(settings, "never_called", 0, 0, [])

    latest = latest_records(settings)
    assert {name: (record.window_start, len(record.alerts)) for name, record in latest.items()} == {
        "drifted": (T0 + timedelta(hours=1), 1), "recovered": (T0 + timedelta(hours=1), 0),
        "never_called": (T0, 0)}
    overview = monitoring_overview(settings, "drifted")
    assert overview.latest.window_start == T0 + timedelta(hours=2)  # traffic: the newest window
    assert overview.open_alerts == [DRIFT] and overview.alerts_window_end == T0 + timedelta(hours=2)
    assert monitoring_overview(settings, "recovered").open_alerts == []


def test_an_empty_window_leaves_the_alerts_before_it_open(tmp_path):
    _check(Settings(home=tmp_path))


def test_the_same_query_on_postgres(postgres, tmp_path):
    postgres.create_database("alerts")
    _check(Settings(home=tmp_path, database_url=f"{postgres.url}/alerts"))
