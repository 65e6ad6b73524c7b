"""The request log's retention: whole hour partitions older than the retention go, nothing else."""

from __future__ import annotations

from datetime import datetime, timezone

from registry.request_logs import enforce_retention, log_root
from registry.settings import Settings


def test_retention_deletes_whole_expired_hours_only(tmp_path):
    settings = Settings(home=tmp_path / "home", request_log_retention_days=2)
    root = log_root(settings)
    assert root == str(tmp_path / "home" / "request_logs")
    hours = ["2026-12-01T09", "2026-12-01T10", "2026-12-02T11"]
    for hour in hours:
        folder = tmp_path / "home" / "request_logs" / "model=m" / "version=1" / f"hour={hour}"
        folder.mkdir(parents=True)
        (folder / "part-1.parquet").write_bytes(b"x")
    labels = tmp_path / "home" / "request_logs" / "_labels" / "model=m"
    labels.mkdir(parents=True)
    now = datetime(2026, 12, 3, 10, 30, tzinfo=timezone.utc)  # cutoff 2026-12-01T10:30
    expired = enforce_retention(settings, now=now)
    assert [path.rsplit("hour=", 1)[1] for path in expired] == ["2026-12-01T09"]  # 10:00-11:00 still has young rows
    left = sorted(path.name for path in (tmp_path / "home" / "request_logs" / "model=m" / "version=1").iterdir())
    assert left == ["hour=2026-12-01T10", "hour=2026-12-02T11"] and labels.exists()
    assert enforce_retention(settings, now=now) == []
