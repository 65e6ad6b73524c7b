"""Thresholds into alerts, and alerts out to people: an ``alert`` event each, and a POST of a
Slack-compatible ``{"text": ...}`` body to the model's webhook when it has one."""

from __future__ import annotations

import logging
import time

from registry.evaluation import higher_is_better
from registry.monitoring import Alert, Figures, MonitoringRecord, Thresholds
from registry.settings import Settings

log = logging.getLogger(__name__)
WEBHOOK_ATTEMPTS = 3
WEBHOOK_TIMEOUT_S = 10.0


def evaluate_thresholds(name: str, figures: Figures, thresholds: Thresholds, *, judge_drift: bool = True) -> list[Alert]:
    """The alerts of one record; without ``judge_drift`` (an online window of fewer rows than
    ``min_drift_rows``: on 60 rows a PSI passes 0.25 on a third of the features by chance) its
    drift is recorded but raises none."""
    if not judge_drift:
        return _operational_alerts(name, figures, thresholds)
    alerts = [
        Alert(rule="feature_psi", subject=feature, value=figures.feature_psi[feature], threshold=thresholds.psi,
              message=f"{name}: feature {feature} drifted, PSI {figures.feature_psi[feature]:.3f} against "
                      f"training (line {thresholds.psi:g})")
        for feature in figures.drifted_features
    ]
    if figures.drifted_share is not None and figures.drifted_share > thresholds.drifted_share:
        alerts.append(Alert(rule="drifted_share", value=figures.drifted_share, threshold=thresholds.drifted_share,
                            message=f"{name}: {figures.drifted_share:.0%} of features drifted "
                                    f"(line {thresholds.drifted_share:.0%})"))
    return alerts + _operational_alerts(name, figures, thresholds)


def _operational_alerts(name: str, figures: Figures, thresholds: Thresholds) -> list[Alert]:
    """Errors, latency and labelled metrics: judged on any number of requests."""
    alerts = []
    if figures.error_rate is not None and figures.error_rate > thresholds.error_rate:
        alerts.append(Alert(rule="error_rate", value=figures.error_rate, threshold=thresholds.error_rate,
                            message=f"{name}: {figures.errors} of {figures.requests} requests failed "
                                    f"({figures.error_rate:.1%}, line {thresholds.error_rate:.1%})"))
    p99, bound = figures.latency_p99_ms, thresholds.latency_p99_ms
    if p99 is not None and bound is not None and p99 > bound:
        alerts.append(Alert(rule="latency_p99_ms", value=p99, threshold=bound,
                            message=f"{name}: p99 latency {p99:.0f} ms (line {bound:g} ms)"))
    return alerts + metric_alerts(name, figures, thresholds)


def metric_alerts(name: str, figures: Figures, thresholds: Thresholds) -> list[Alert]:
    """A labelled metric worse than its floor (for errors such as rmse: above it)."""
    alerts = []
    for metric, floor in thresholds.metric_floors.items():
        value = figures.metrics.get(metric.removeprefix("validation_"))
        if value is None:
            continue
        worse = value < floor if higher_is_better(metric) else value > floor
        if worse:
            alerts.append(Alert(rule="metric_floor", subject=metric, value=value, threshold=floor,
                                message=f"{name}: {metric} {value:.4g} on {figures.labelled_rows} labelled rows "
                                        f"(line {floor:g})"))
    return alerts


def record_alert_events(settings: Settings, record: MonitoringRecord, alerts: list[Alert], *, actor: str) -> None:
    from registry.metadata.db import session_scope
    from registry.metadata.events import record_event

    with session_scope(settings) as session:
        for alert in alerts:
            record_event(session, actor=actor, action="alert", model_name=record.model_name,
                         model_version=record.model_version,
                         details={**alert.model_dump(mode="json"), "record_id": record.id, "source": record.source,
                                  "window_start": record.window_start.isoformat(),
                                  "window_end": record.window_end.isoformat()})


def post_webhook(url: str, alerts: list[Alert], *, attempts: int = WEBHOOK_ATTEMPTS, wait_s: float = 1.0) -> bool:
    """POST the alerts as one Slack-compatible message; retried on a failure or a 5xx/429 answer.
    False when it could not be delivered (logged: the alerts stay recorded and evented)."""
    import httpx

    body = {"text": "Modelyard monitoring alert:\n" + "\n".join(f"- {alert.message}" for alert in alerts)}
    for attempt in range(1, attempts + 1):
        try:
            answer = httpx.post(url, json=body, timeout=WEBHOOK_TIMEOUT_S)
            if answer.status_code < 400:
                return True
            retry = answer.status_code >= 500 or answer.status_code == 429
            problem = f"HTTP {answer.status_code}"
        except httpx.HTTPError as error:
            retry, problem = True, f"{type(error).__name__}: {error}"
        log.warning("webhook %s attempt %d/%d failed: %s", url, attempt, attempts, problem)
        if not retry or attempt == attempts:
            return False
        time.sleep(wait_s * 2 ** (attempt - 1))
    return False
