"""Optional request/response logging to Parquet, for monitoring what a deployment was asked.

Off unless ``MODELYARD_SERVE_REQUEST_LOG_DIR`` is set. Each scored row becomes one log row:
the time, the route, a request id, the validated features and the model's outputs. Rows are
buffered in memory and written as a new Parquet file (staged, then renamed, so a reader never
sees half a file) when the buffer reaches ``FLUSH_ROWS`` rows, when the oldest buffered row is
``FLUSH_SECONDS`` old (checked on every request and by a timer) and when the service shuts down.
Files are named ``requests-<utc time>-<pid>-<sequence>.parquet``, so several workers never collide,
and ``pandas.read_parquet(folder)`` reads them all as one table.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

FLUSH_ROWS = 10_000
FLUSH_SECONDS = 30.0


class RequestLog:
    """A thread-safe buffer of scored rows that flushes to Parquet files under ``folder``."""

    def __init__(self, folder: Path, model_name: str, model_version: int,
                 flush_rows: int = FLUSH_ROWS, flush_seconds: float = FLUSH_SECONDS):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.model_name, self.model_version = model_name, model_version
        self.flush_rows, self.flush_seconds = flush_rows, flush_seconds
        self._frames: list[pd.DataFrame] = []
        self._rows, self._oldest, self._sequence = 0, None, 0
        self._lock = threading.Lock()
        self._timer = threading.Thread(target=self._flush_periodically, name="request-log", daemon=True)
        self._stopped = threading.Event()
        self._timer.start()

    def record(self, route: str, features: pd.DataFrame, result: pd.DataFrame) -> None:
        """Buffer one request's rows: features (prefixed ``input_``) beside outputs."""
        rows = pd.concat([features.add_prefix("input_").reset_index(drop=True),
                          result.add_prefix("output_").reset_index(drop=True)], axis=1)
        rows.insert(0, "request_id", uuid.uuid4().hex)
        rows.insert(0, "route", route)
        rows.insert(0, "model_version", self.model_version)
        rows.insert(0, "model_name", self.model_name)
        rows.insert(0, "logged_at", pd.Timestamp.now(tz="UTC"))
        with self._lock:
            self._frames.append(rows)
            self._rows += len(rows)
            self._oldest = self._oldest or time.monotonic()
            due = self._rows >= self.flush_rows or time.monotonic() - self._oldest >= self.flush_seconds
        if due:
            self.flush()

    def flush(self) -> Path | None:
        """Write what is buffered as one new Parquet file; None when nothing was buffered."""
        with self._lock:
            if not self._frames:
                return None
            frames, self._frames, self._rows, self._oldest = self._frames, [], 0, None
            self._sequence += 1
            sequence = self._sequence
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.folder / f"requests-{stamp}-{os.getpid()}-{sequence:06d}.parquet"
        staging = target.with_name(f".{target.name}.tmp")
        pd.concat(frames, ignore_index=True).to_parquet(staging, index=False)
        staging.rename(target)
        return target

    def close(self) -> None:
        self._stopped.set()
        self.flush()

    def _flush_periodically(self) -> None:
        while not self._stopped.wait(min(self.flush_seconds, 5.0)):
            with self._lock:
                due = self._oldest is not None and time.monotonic() - self._oldest >= self.flush_seconds
            if due:
                self.flush()
