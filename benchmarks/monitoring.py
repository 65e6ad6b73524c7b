"""Monitoring benchmark: one monitoring pass over N logged requests (default 1,000,000), beside a
naive baseline that reads the whole log with pandas and computes the same drift and traffic.

The log is written in the contract's layout (``registry.request_logs``): one hour of one-row
requests of the demo breast-cancer classifier (30 features, its class and probabilities), in
files of ``--rows-per-file`` rows. The pass is ``pipelines.monitoring.monitor.monitor_model``
(read the window, PSI against training and the window before, data quality, prediction drift,
traffic, MLflow, record); the target is <= 60 s on the 2-core reference machine.

    .venv/bin/python benchmarks/monitoring.py --requests 1000000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

NAME = "breast_cancer_classifier"
START = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
TARGET_S = 60.0


def write_log(settings, requests: int, rows_per_file: int) -> int:
    """``requests`` one-row requests spread over one hour, 1 % of them refused; returns the files written."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.training import load_dataset
    from registry.request_logs import log_root, partition

    features, target = load_dataset("breast_cancer")
    rng = np.random.default_rng(0)
    picked = rng.integers(0, len(features), requests)
    folder = Path(partition(log_root(settings), NAME, 1, START))
    folder.mkdir(parents=True, exist_ok=True)
    base = np.datetime64(START.replace(tzinfo=None), "us")
    stamps = base + (np.arange(requests) * (3600e6 / requests)).astype("timedelta64[us]")
    status = np.where(rng.random(requests) < 0.01, 400, 200)
    files = 0
    for begin in range(0, requests, rows_per_file):
        part = slice(begin, min(begin + rows_per_file, requests))
        rows = picked[part]
        predicted = target.to_numpy()[rows]
        columns = {
            "request_id": pa.array([uuid.uuid4().hex for _ in range(len(rows))]),
            "row": pa.array(np.zeros(len(rows), "int64")),
            "received_at": pa.array(stamps[part]).cast(pa.timestamp("us", tz="UTC")),
            "replica": pa.array(["3001"] * len(rows)), "route": pa.array(["/predict"] * len(rows)),
            "status": pa.array(status[part]), "latency_ms": pa.array(rng.gamma(4.0, 3.0, len(rows))),
            "error": pa.array([None] * len(rows), pa.string()),
            **{f"input_{name}": pa.array(features[name].to_numpy()[rows] * rng.normal(1, 0.02, len(rows)))
               for name in features.columns},
            "output_prediction": pa.array(predicted),
            "output_probability_0": pa.array(np.where(predicted == 0, 0.9, 0.1)),
            "output_probability_1": pa.array(np.where(predicted == 1, 0.9, 0.1)),
        }
        pq.write_table(pa.table(columns), folder / f"part-{begin:09d}-3001-{files:05d}.parquet")
        files += 1
    return files


def naive_pass(settings) -> dict:
    """The baseline: pandas reads the whole log, then the same PSI and traffic figures in plain pandas."""
    import numpy as np
    import pandas as pd

    from pipelines.monitoring.reference import load_reference
    from pipelines.scoring.drift import psi
    from registry.request_logs import log_root

    reference = load_reference(settings, NAME, 1)
    frame = pd.read_parquet(f"{log_root(settings)}/model={NAME}")
    frame = frame[(frame["received_at"] >= START) & (frame["received_at"] < START + timedelta(hours=1))]
    requests = frame.drop_duplicates("request_id")
    figures = {"requests": len(requests), "p99": float(requests["latency_ms"].quantile(0.99))}
    scored = frame[frame["status"] < 400]
    for check in reference.checks.features:
        counts = np.histogram(scored[f"input_{check.name}"].clip(check.bin_edges[0], check.bin_edges[-1]),
                              bins=check.bin_edges)[0]
        figures[check.name] = psi(check.bin_counts, counts.tolist())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--rows-per-file", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    from pipelines.monitoring.monitor import monitor_model
    from pipelines.training import DEMO_MODELS, train_demo_model
    from registry.settings import Settings

    settings = Settings(home=(args.workdir or Path(tempfile.mkdtemp(prefix="modelyard-bench-monitoring-"))) / "home")
    print(f"training {NAME} in {settings.home} (not timed)", flush=True)
    train_demo_model(DEMO_MODELS[NAME], settings)
    clock = time.perf_counter()
    files = write_log(settings, args.requests, args.rows_per_file)
    print(f"wrote {args.requests:,} requests in {files} files in {time.perf_counter() - clock:.1f} s (not timed)")

    clock = time.perf_counter()
    naive = naive_pass(settings)
    naive_s = time.perf_counter() - clock
    clock = time.perf_counter()
    record = monitor_model(settings, NAME, now=START + timedelta(hours=1), actor="benchmark")
    modelyard_s = time.perf_counter() - clock
    assert record.figures.requests == naive["requests"] == args.requests, (record.figures.requests, naive["requests"])

    print(f"\n{'runner':<44}{'requests':>12}{'wall s':>9}{'req/s':>12}")
    for runner, seconds in (("(a) naive: pandas reads all, PSI + traffic", naive_s),
                            ("modelyard monitoring pass (all figures)", modelyard_s)):
        print(f"{runner:<44}{args.requests:>12,}{seconds:>9.2f}{args.requests / seconds:>12,.0f}")
    print(f"\nfigures: {len(record.figures.feature_psi)} features, p99 {record.figures.latency_p99_ms:.1f} ms, "
          f"errors {record.figures.errors:,}, drifted {len(record.figures.drifted_features)}")
    verdict = "PASS" if modelyard_s <= TARGET_S else "FAIL"
    print(f"Target (issue #19): a pass over {args.requests:,} requests <= {TARGET_S:.0f} s: "
          f"{modelyard_s:.1f} s  {verdict}")


if __name__ == "__main__":
    main()
