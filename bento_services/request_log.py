"""A replica's request log: every scored row and every refused request, written as Parquet in
the layout and columns of ``registry.request_logs`` (the contract the monitoring runs read).

Cheap on the request path: a model call appends one entry (the batch's feature and prediction
frames as they are, and each request's id, arrival, route and row count); a refused or failed
request appends one small tuple. Nothing is converted there. A thread turns every
``COMPACT_CALLS`` entries into one Arrow table (thousands of small pandas frames held for seconds
survive into Python's oldest generation and trigger full garbage collections, which cost the
replica more CPU than the log itself); at each flush it splits the tables by the hour of
``received_at`` and writes one file per hour partition, every ``flush_seconds``, sooner once
``flush_rows`` rows wait, and on close (the service's shutdown).
Local files are written under a dot-name and renamed; on S3 a file is one PUT. So a replica
stopped by SIGTERM loses nothing it answered, and one killed loses at most the rows of its last
``flush_seconds``.
"""

from __future__ import annotations

import io
import itertools
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

logger = logging.getLogger("bentoml.modelyard.request_log")
FLUSH_ROWS = 10_000
FLUSH_SECONDS = 5.0
COMPACT_CALLS = 256


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass
class RequestMeta:
    """One request as the log sees it; ``status`` and ``latency_ms`` are set when it is answered
    (before that, at scoring: 200 and the time to its predictions)."""

    request_id: str
    route: str
    received_ns: int  # time.time_ns() at arrival
    started: float  # time.perf_counter() at arrival
    status: int = 200
    latency_ms: float | None = None
    error: str | None = None
    logged: bool = False  # its rows went in with a model call
    done: bool = False  # the request is over (answered or abandoned): status and latency are final
    shadow: bool = False  # a gateway's copy: its answer went to no client (registry.request_logs)

    def finish(self, status: int) -> None:
        self.status, self.latency_ms = status, (time.perf_counter() - self.started) * 1000.0


@dataclass
class _Scored:
    features: Any  # pandas frame, rows of every request in the call, in order
    outputs: Any
    requests: list[tuple[RequestMeta, int]]  # (request, its row count), in frame order


@dataclass
class RequestLog:
    """Buffer and writer of one replica's log under ``root`` (a folder or an s3:// prefix)."""

    root: str
    model_name: str
    model_version: int
    replica: str
    filesystem: Any  # fsspec filesystem of the root (registry.request_logs.filesystem)
    columns: list[str] = field(default_factory=list)  # input_/output_ columns every file has, in order
    string_columns: set[str] = field(default_factory=set)  # of those, the strings (typed even when all null)
    flush_seconds: float = FLUSH_SECONDS
    flush_rows: int = FLUSH_ROWS
    _pending: list = field(default_factory=list)
    _compacted: list = field(default_factory=list)  # Arrow tables of earlier entries, not yet written
    _rows: int = 0  # rows buffered, pending and compacted
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _write_lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stopped: threading.Event = field(default_factory=threading.Event)
    _sequence: itertools.count = field(default_factory=lambda: itertools.count(1))
    _thread: threading.Thread | None = None

    def start(self) -> "RequestLog":
        # Imported here, before the service freezes what it has loaded: imported later by the
        # flush thread, Arrow's modules stayed in the collector's sight and made every full
        # collection of the replica ~70 ms longer (6.4 s against 3.6 s over 30,000 requests).
        import pyarrow.compute  # noqa: F401
        import pyarrow.parquet  # noqa: F401

        self._thread = threading.Thread(target=self._flush_periodically, name="request-log", daemon=True)
        self._thread.start()
        return self

    # --- the request path: appends only -------------------------------------------------------

    def scored(self, features, outputs, requests: list[tuple[RequestMeta, int]]) -> None:
        """One model call: its frames and the requests whose rows they hold."""
        if any(meta is None for meta, _ in requests):
            raise ValueError("every request of a logged model call needs its RequestMeta")
        for meta, _ in requests:
            meta.logged = True
            if meta.latency_ms is None:
                meta.latency_ms = (time.perf_counter() - meta.started) * 1000.0
        self._append(_Scored(features, outputs, requests), len(features))

    def refused(self, meta: RequestMeta) -> None:
        """A request answered without predictions: one row, its status and error."""
        self._append(meta, 1)

    def _append(self, entry, rows: int) -> None:
        with self._lock:
            self._pending.append(entry)
            self._rows += rows
            due = self._rows >= self.flush_rows or len(self._pending) >= COMPACT_CALLS
        if due:
            self._wake.set()

    # --- off the request path -----------------------------------------------------------------

    def flush(self) -> list[str]:
        """Write what is buffered, one file per hour partition; the paths written."""
        import pyarrow as pa

        with self._write_lock:  # the timer and close() never write the same entries twice
            with self._lock:
                pending, self._pending, self._rows = self._pending, [], 0
            tables, self._compacted = self._compacted, []
            if pending:
                tables.append(self._table(pending))
            if not tables:
                return []
            table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
            return [self._write(hour, rows) for hour, rows in _by_hour(table)]

    def compact(self) -> None:
        """Turn the pending entries of requests that are over into one Arrow table, kept until the
        next flush; a model call whose requests are still being answered waits, with those after it."""
        with self._write_lock:
            with self._lock:
                over = next((i for i, entry in enumerate(self._pending) if not _over(entry)), len(self._pending))
                pending, self._pending = self._pending[:over], self._pending[over:]
            if pending:
                self._compacted.append(self._table(pending))

    def _table(self, pending: list):
        return _table(pending, self.replica, self.columns, self.string_columns)

    def close(self) -> list[str]:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30.0)
        return self.flush()

    def _flush_periodically(self) -> None:
        due = time.monotonic() + self.flush_seconds
        while not self._stopped.is_set():
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                if time.monotonic() >= due or self._rows >= self.flush_rows:
                    due = time.monotonic() + self.flush_seconds
                    self.flush()
                else:
                    self.compact()
            except Exception:  # a full disk or an S3 outage must not stop the replica serving
                logger.exception("request log: could not write %s rows; they are dropped", self.model_name)

    def _write(self, hour: str, table) -> str:
        import pyarrow.parquet as pq

        folder = f"{self.root}/model={self.model_name}/version={self.model_version}/hour={hour}"
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"part-{stamp}-{self.replica}-{next(self._sequence):06d}.parquet"
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        fs = self.filesystem
        if folder.startswith("s3://"):
            fs.pipe_file(f"{folder}/{name}", buffer.getvalue())  # one PUT: whole or absent
        else:
            fs.makedirs(folder, exist_ok=True)
            staging = f"{folder}/.{name}.tmp"
            with fs.open(staging, "wb") as out:
                out.write(buffer.getvalue())
            fs.mv(staging, f"{folder}/{name}")
        return f"{folder}/{name}"


def _over(entry) -> bool:
    """Whether an entry's status and latency are final (a refused request is logged when over)."""
    return isinstance(entry, RequestMeta) or all(meta.done for meta, _ in entry.requests)


def _table(pending: list, replica: str, columns: list[str], string_columns: set[str] = frozenset()):
    """The contract's columns for buffered entries: the scored rows, then the refused requests.

    Built column by column in numpy and Arrow: a pandas concat of hundreds of one-row frames spent
    most of its time comparing their indexes (0.07 ms per model call, on the request's CPU)."""
    import pyarrow as pa

    from registry.request_logs import COLUMNS, INPUT_PREFIX, OUTPUT_PREFIX

    scored = [entry for entry in pending if isinstance(entry, _Scored)]
    refused = [entry for entry in pending if isinstance(entry, RequestMeta)]
    requests = [request for entry in scored for request in entry.requests]
    metas = [meta for meta, _ in requests] + refused
    data = _fixed(metas, [rows for _, rows in requests] + [1] * len(refused), replica)
    if scored:
        for prefix, frames in ((INPUT_PREFIX, [entry.features for entry in scored]),
                               (OUTPUT_PREFIX, [entry.outputs for entry in scored])):
            for name, values in _stacked(frames).items():
                data[f"{prefix}{name}"] = pa.array(values, from_pandas=True)  # NaN is null, as pandas has it
    total = len(data["request_id"])
    strings = {name: pa.string() for name in string_columns}
    order = [*COLUMNS, *columns, *[name for name in data if name not in COLUMNS and name not in columns]]
    arrays = {}
    for name in order:
        values = data.get(name)
        if values is None:  # refused requests only: the features are null, typed as every file has them
            arrays[name] = pa.nulls(total, strings.get(name, pa.float64()))
        elif len(values) < total:  # scored rows, then the refused requests' nulls
            arrays[name] = pa.concat_arrays([values, pa.nulls(total - len(values), values.type)])
        else:
            arrays[name] = values
    table = pa.table(arrays)
    types = {**{name: pa.field(name, kind) for name, kind in strings.items()}, **_fixed_types()}
    return table.cast(pa.schema([types.get(f.name, f) for f in table.schema]))


def _stacked(frames: list) -> dict:
    """The calls' rows one after another, as a numpy array per column: matrices and predictions of
    the request path (``bento_services.rows``) as they are, frames of one numeric dtype (the usual
    feature frame) stacked as matrices, others column by column."""
    import numpy as np

    from bento_services.rows import Matrix, Predictions

    for kind in (Matrix, Predictions):
        if all(isinstance(part, kind) for part in frames):
            return kind.stacked(frames).columns()
    frames = [part.to_frame() if isinstance(part, (Matrix, Predictions)) else part for part in frames]
    first = frames[0]
    names = list(first.columns)
    kinds = set(first.dtypes)
    if len(kinds) == 1 and next(iter(kinds)).kind in "biuf":
        dtype = next(iter(kinds))
        try:
            if all(frame.columns.tolist() == names for frame in frames):
                matrix = np.concatenate([frame.to_numpy(dtype=dtype) for frame in frames])
                return {name: matrix[:, i] for i, name in enumerate(names)}
        except (TypeError, ValueError):  # a frame of other types after all: the general way
            pass
    return {name: np.concatenate([frame[name].to_numpy() for frame in frames]) for name in names}


def _fixed_types() -> dict:
    import pyarrow as pa

    types = {"request_id": pa.string(), "row": pa.int32(), "received_at": pa.timestamp("us", tz="UTC"),
             "replica": pa.string(), "route": pa.string(), "status": pa.int16(), "latency_ms": pa.float64(),
             "error": pa.string(), "shadow": pa.bool_()}
    return {name: pa.field(name, kind) for name, kind in types.items()}


def _fixed(metas: list[RequestMeta], counts: list[int], replica: str) -> dict:
    """The fixed columns as Arrow arrays, one value per row (a request of n rows repeats its own n times)."""
    import numpy as np
    import pyarrow as pa

    repeat = np.asarray(counts, dtype=np.int64)
    total = int(repeat.sum())
    starts = np.repeat(np.cumsum(repeat) - repeat, repeat)

    def each(values, kind):
        return pa.array(np.repeat(np.asarray(values, dtype=object), repeat), type=kind, from_pandas=True)

    return {
        "request_id": each([m.request_id for m in metas], pa.string()),
        "row": pa.array((np.arange(total) - starts).astype(np.int32)),
        "received_at": pa.array(np.repeat(np.asarray([m.received_ns for m in metas], dtype=np.int64) // 1000,
                                          repeat), type=pa.timestamp("us", tz="UTC")),
        "replica": pa.repeat(replica, total).cast(pa.string()),
        "route": each([m.route for m in metas], pa.string()),
        "status": pa.array(np.repeat(np.asarray([m.status for m in metas], dtype=np.int16), repeat)),
        "latency_ms": pa.array(np.repeat(np.asarray([np.nan if m.latency_ms is None else m.latency_ms
                                                     for m in metas], dtype=np.float64), repeat), from_pandas=True),
        "error": each([m.error for m in metas], pa.string()),
        "shadow": pa.array(np.repeat(np.asarray([m.shadow for m in metas], dtype=bool), repeat)),
    }


def _by_hour(table):
    """``(hour, rows of that hour)`` for each hour partition the table's ``received_at`` touches."""
    import pyarrow.compute as pc

    from registry.request_logs import HOUR_FORMAT

    hours = pc.strftime(table["received_at"], format=HOUR_FORMAT)
    for hour in pc.unique(hours).to_pylist():
        yield hour, table.filter(pc.equal(hours, hour))
