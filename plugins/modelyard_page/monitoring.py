"""What the page shows of a deployed model's monitoring, and the few changes it makes.

The overview and the labels are ``pipelines.monitoring``'s, thresholds ``registry.monitoring``'s,
the live traffic the gateway's (``registry.deployments.live_traffic``): the same functions the
CLI and the monitoring DAG call. This module only puts them together for the routes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from registry.deployments import DeploymentInfo, Traffic
from registry.settings import Settings

MONITOR_DAG = "monitor_deployments"


class MonitoringSummary(BaseModel):
    """One line of health for the models list: open alerts and traffic, live when the gateway
    says, else the latest monitored window's."""

    open_alerts: int = 0
    alert_rules: list[str] = []
    requests_per_min: float | None = None
    error_rate: float | None = None
    latency_p99_ms: float | None = None
    traffic_source: Literal["live", "window"] | None = None
    window_end: datetime | None = None


# --- what the routes call ------------------------------------------------------------------

def model_monitoring(settings: Settings, name: str, deployment: DeploymentInfo | None) -> dict[str, Any]:
    """The overview with the live traffic of the model's running deployment."""
    from pipelines.monitoring.overview import monitoring_overview

    overview = monitoring_overview(settings, name).model_dump(mode="json")
    traffic = _live(deployment)
    return {**overview, "traffic": traffic.model_dump(mode="json") if traffic else None, "dag_id": MONITOR_DAG}


def summaries(settings: Settings, deployments: dict[str, DeploymentInfo | None]) -> dict[str, MonitoringSummary]:
    """Each model's health line: one query for the latest records, gateways asked side by side."""
    from registry.monitoring import latest_records

    latest = latest_records(settings)
    names = list(deployments)
    with ThreadPoolExecutor(max_workers=min(8, len(names) or 1)) as pool:
        traffic = dict(zip(names, pool.map(lambda each: _live(deployments[each]), names)))
    out = {}
    for name in names:
        record, live = latest.get(name), traffic[name]
        figures = record.figures if record else None
        source = "live" if live else ("window" if figures and figures.requests else None)
        out[name] = MonitoringSummary(
            open_alerts=len(record.alerts) if record else 0,
            alert_rules=sorted({alert.rule for alert in record.alerts}) if record else [],
            requests_per_min=live.requests_per_minute if live else (figures.requests_per_min if source else None),
            error_rate=live.error_rate if live else (figures.error_rate if source else None),
            latency_p99_ms=live.p99_ms if live else (figures.latency_p99_ms if source else None),
            traffic_source=source, window_end=record.window_end if record else None)
    return out


def _live(deployment: DeploymentInfo | None) -> Traffic | None:
    """The running deployment's last minute at its gateway (a live listing carries it already),
    quiet minutes included: an idle endpoint reads 0 req/min, not the rate of the last window that
    saw requests (walking the demo, the list showed 1,846 req/min minutes after its burst).
    None when nothing serves or the gateway does not answer."""
    from registry.deployments import traffic_at

    if deployment is None or deployment.status != "running" or not deployment.endpoint_port:
        return None
    return deployment.traffic or traffic_at(deployment.endpoint_port)
