"""The models list's health line: an endpoint's own last minute when it answers, quiet or not."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from plugins.modelyard_page.monitoring import summaries
from registry.deployments import DeploymentInfo, Traffic
from registry.monitoring import Alert, Figures, record_run
from registry.settings import Settings

NOW = datetime.now(timezone.utc)
DRIFT = Alert(rule="feature_psi", message="mean_radius drifted", value=0.6, threshold=0.25, subject="mean_radius")


def _deployment(traffic: Traffic | None, status: str = "running") -> DeploymentInfo:
    return DeploymentInfo(id=1, model_name="m", model_version=1, bento_tag=None, url="http://127.0.0.1:3000",
                          port=3001, pids=[], status=status, status_reason=None, request_id=None, created_by="t",
                          created_at=NOW, updated_at=NOW, traffic=traffic)


def _quiet_minute() -> Traffic:
    return Traffic(model_version=1, window_seconds=60, requests=0, errors=0, requests_per_minute=0.0,
                   error_rate=None, p50_ms=None, p99_ms=None, total_requests=402, total_errors=0,
                   since=NOW - timedelta(minutes=10))


def test_an_idle_endpoint_reads_zero_not_its_last_busy_window(tmp_path):
    settings = Settings(home=tmp_path)
    record_run(settings, model_name="m", model_version=1, source="online", window_start=NOW - timedelta(minutes=6),
               window_end=NOW - timedelta(minutes=5),
               figures=Figures(requests=402, requests_per_min=1845.7, error_rate=0.0, latency_p99_ms=22.0),
               alerts=[DRIFT])

    idle = summaries(settings, {"m": _deployment(_quiet_minute())})["m"]
    assert (idle.traffic_source, idle.requests_per_min, idle.error_rate, idle.latency_p99_ms) == ("live", 0.0, None, None)
    assert idle.open_alerts == 1  # the alerts stay those of the window that saw requests

    stopped = summaries(settings, {"m": _deployment(None, status="stopped")})["m"]
    assert (stopped.traffic_source, stopped.requests_per_min) == ("window", 1845.7)
