"""Monitoring a deployed model: passes over windows of its request log (``registry.request_logs``)
that measure traffic, drift, data quality, prediction drift and labelled metrics, record them
(``registry.monitoring``), raise alerts, and read back as one overview for every front."""
