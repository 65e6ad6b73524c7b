"""Batch scoring runs feed the same series as the online windows: a finished run becomes a
``batch`` record with its PSI (already on the training bins), counts and prediction mix."""

from __future__ import annotations

from datetime import timedelta

from pipelines.monitoring.alerts import evaluate_thresholds, record_alert_events
from pipelines.scoring.schema import ScoringResult
from registry.monitoring import Figures, MonitoringRecord, record_run, thresholds_for
from registry.settings import Settings


def record_batch_run(settings: Settings, result: ScoringResult, *, actor: str) -> MonitoringRecord:
    thresholds = thresholds_for(settings, result.model_name)
    drifted = sorted(name for name, value in result.drift.items() if value >= thresholds.psi)
    shares = result.prediction_summary.get("class_shares") or {}
    figures = Figures(rows=result.rows_in, feature_psi=result.drift, drifted_features=drifted,
                      drifted_share=len(drifted) / len(result.drift) if result.drift else None,
                      prediction_mix={str(label): float(share) for label, share in shares.items()},
                      notes=[f"batch run {result.run_id}: {result.rows_scored} scored, "
                             f"{result.rows_rejected} rejected"])
    alerts = evaluate_thresholds(result.model_name, figures, thresholds)
    record = record_run(settings, model_name=result.model_name, model_version=result.model_version, source="batch",
                        window_start=result.started_at,
                        window_end=result.started_at + timedelta(seconds=result.duration_s),
                        figures=figures, alerts=alerts, scoring_run_id=result.run_id)
    if alerts:
        record_alert_events(settings, record, alerts, actor=actor)
    return record
