"""A model's monitoring at a glance, as every front shows it (CLI, Models page, DAG logs)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from registry.monitoring import Alert, MonitoringRecord, Thresholds, alerting_record, runs_for, thresholds_for
from registry.settings import Settings


class MonitoringOverview(BaseModel):
    model_name: str
    records: list[MonitoringRecord]  # online and batch, oldest window first
    thresholds: Thresholds
    open_alerts: list[Alert]  # the alerts of the newest online window that saw requests
    alerts_window_end: datetime | None  # that window's end
    latest: MonitoringRecord | None  # the latest online record
    features: list[str]  # every feature with a PSI in some record, for a feature x window view
    next_window_start: datetime | None  # where the next online pass starts; None before the first

    @property
    def online(self) -> list[MonitoringRecord]:
        return [record for record in self.records if record.source == "online"]


def monitoring_overview(settings: Settings, name: str, *, limit: int = 500) -> MonitoringOverview:
    records = runs_for(settings, name, limit=limit)
    online = [record for record in records if record.source == "online"]
    latest = online[-1] if online else None
    alerting = alerting_record(online)
    features = list(dict.fromkeys(feature for record in records for feature in record.figures.feature_psi))
    return MonitoringOverview(model_name=name, records=records, thresholds=thresholds_for(settings, name),
                              open_alerts=alerting.alerts if alerting else [],
                              alerts_window_end=alerting.window_end if alerting else None,
                              latest=latest, features=features,
                              next_window_start=latest.window_end if latest else None)
