"""Writing request-log files in the contract's layout (``registry.request_logs``), as the replicas do."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from registry.request_logs import INPUT_PREFIX, OUTPUT_PREFIX, filesystem, hour_of, log_root, partition
from registry.settings import Settings


def requests_frame(features: pd.DataFrame, predictions: pd.Series, *, start: datetime, span: timedelta,
                   classes: list | None = None, latency_ms: float = 12.0, seed: int = 0) -> pd.DataFrame:
    """One single-row request per feature row, spread evenly over ``[start, start + span)``."""
    rng = np.random.default_rng(seed)
    count = len(features)
    frame = pd.DataFrame({
        "request_id": [uuid.uuid4().hex for _ in range(count)], "row": 0,
        "received_at": [start + span * (index / count) for index in range(count)],
        "replica": "3001", "route": "/predict", "status": 200,
        "latency_ms": rng.gamma(4.0, latency_ms / 4.0, count), "error": None,
    })
    for column in features.columns:
        frame[f"{INPUT_PREFIX}{column}"] = features[column].to_numpy()
    frame[f"{OUTPUT_PREFIX}prediction"] = predictions.to_numpy()
    for label in classes or []:
        frame[f"{OUTPUT_PREFIX}probability_{label}"] = np.where(predictions.to_numpy() == label, 0.9, 0.1)
    return frame


def error_rows(count: int, *, start: datetime, span: timedelta) -> pd.DataFrame:
    """Refused requests: one row each, status and error, no features."""
    return pd.DataFrame({
        "request_id": [uuid.uuid4().hex for _ in range(count)], "row": 0,
        "received_at": [start + span * (index / max(count, 1)) for index in range(count)],
        "replica": "3002", "route": "/predict", "status": 400, "latency_ms": 1.0,
        "error": "input lacks column mean_radius",
    })


def write_log(settings: Settings, name: str, version: int, frame: pd.DataFrame, *, rows_per_file: int = 500) -> list[str]:
    """Each hour's rows into its partition, in files of at most ``rows_per_file`` rows (staged, renamed)."""
    fs, root = filesystem(log_root(settings), settings)
    frame = frame.assign(received_at=pd.to_datetime(frame["received_at"], utc=True))
    written = []
    for hour, rows in frame.groupby(frame["received_at"].map(hour_of)):
        folder = partition(root, name, version, rows["received_at"].iloc[0].to_pydatetime())
        fs.makedirs(folder, exist_ok=True)
        for index, begin in enumerate(range(0, len(rows), rows_per_file)):
            part = rows.iloc[begin:begin + rows_per_file]
            stem = f"part-{hour.replace('-', '')}-{part['replica'].iloc[0]}-{index:05d}-{uuid.uuid4().hex[:6]}.parquet"
            staged, final = f"{folder}/.{stem}", f"{folder}/{stem}"
            with fs.open(staged, "wb") as out:
                part.to_parquet(out, index=False)
            fs.mv(staged, final)
            written.append(final)
    return written
