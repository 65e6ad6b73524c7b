"""A challenger's share of a model's traffic: which requests it takes, and what came of them.

The gateway (``bento_services.gateway``) asks a ``Challenge`` whether a scoring request is in the
challenger's slice, and tells it every answer and every mirror's outcome; ``/-/gateway`` reports
its ``summary``. The slice is fixed by a stable hash of a key (the sticky header's value, else
the request id), so a caller with the same key lands on the same side in every gateway process,
before and after a restart. Each gateway worker keeps its own counts (``Challenge.snapshot``);
``/-/gateway`` reports their sum (``merge_challenges``). Kept light: the gateway imports it at start.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping

from bento_services.mirror_queue import MAX_QUEUED, Job, MirrorQueue
from registry.challenge_modes import MODES

SHADOW_HEADER = "x-modelyard-shadow"
BUCKETS = 10_000
LATENCY_SAMPLE = 10_000  # the latest answers per version whose latency gives p50/p99
# A mirror's outcome (the Prometheus label) and the status count it adds to; each mirror has one.
MIRROR_COUNTS = {"answered": "mirror_answered", "error": "mirror_errors", "failed": "mirror_failed",
                 "dropped": "mirror_dropped", "skipped": "mirror_skipped"}
COUNTS = ("answered", "failed_over", "mirrored", *MIRROR_COUNTS.values())


def is_scoring(method: str, path: str) -> bool:
    """Only predictions are split or mirrored; metadata and health stay with the champion."""
    if method != "POST":
        return False
    return path in ("/predict", "/invocations") or (path.startswith("/v2/models/") and path.endswith("/infer"))


def in_slice(key: str, percent: float) -> bool:
    """Whether ``key``'s bucket of ``BUCKETS`` (blake2b, the same in every process) is below ``percent``."""
    bucket = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") % BUCKETS
    return bucket < percent * BUCKETS / 100.0


def read_challenger(section: dict | None) -> dict | None:
    """A route file's ``challenger``, defaults filled in; a ValueError says which field is wrong."""
    if section is None:
        return None
    if not section.get("upstreams"):
        raise ValueError("a challenger needs at least one upstream")
    for field in ("model_version", "challenge_id"):
        if section.get(field) is None:
            raise ValueError(f"the challenger has no {field}")
    mode, percent = section.get("mode", "shadow"), float(section.get("percent", 100.0))
    if mode not in MODES:
        raise ValueError(f"challenger mode {mode!r}: must be one of {', '.join(MODES)}")
    if not 0.0 <= percent <= 100.0:
        raise ValueError(f"challenger percent {percent}: must be between 0 and 100")
    max_queued = int(section.get("max_queued") or MAX_QUEUED)
    if max_queued < 1:
        raise ValueError(f"challenger max_queued {max_queued}: must be 1 or more")
    return {**section, "mode": mode, "percent": percent, "sticky_header": section.get("sticky_header"),
            "max_queued": max_queued}


class VersionFigures:
    """Answers one version gave during a challenge (to clients and to mirrors): counts since it
    started, p50/p99 over the latest ``LATENCY_SAMPLE``."""

    def __init__(self) -> None:
        self.requests = self.errors = 0
        self.latencies: deque[float] = deque(maxlen=LATENCY_SAMPLE)

    def observe(self, status: int, seconds: float) -> None:
        self.requests += 1
        self.errors += status >= 500
        self.latencies.append(seconds * 1000.0)

    def snapshot(self) -> dict:
        return {"requests": self.requests, "errors": self.errors, "latencies": latency_counts(self.latencies)}


def _version_summary(snapshots: list[dict]) -> dict:
    """One version's figures over every worker's snapshot of them."""
    requests, errors = sum(one["requests"] for one in snapshots), sum(one["errors"] for one in snapshots)
    p50, p99 = percentiles([one["latencies"] for one in snapshots], (0.50, 0.99))
    return {"requests": requests, "errors": errors, "error_rate": errors / requests if requests else None,
            "p50_ms": p50, "p99_ms": p99}


class Challenge:
    """One challenge as the gateway runs it: its route section, its round-robin turn, the queue of
    its mirrors, and its counts. ``mirrored`` counts mirrors queued; each ends as
    ``mirror_answered`` (below 500), ``mirror_errors`` or ``mirror_failed`` (no answer)."""

    def __init__(self, section: dict, champion_version: str):
        self.section, self.champion_version = section, champion_version
        self.since = time.time()
        self.counts: Counter[str] = Counter()
        self.mirrors = MirrorQueue(max_queued=section["max_queued"])
        self.versions = {champion_version: VersionFigures(), self.version: VersionFigures()}
        self._turn = 0

    @property
    def version(self) -> str:
        return str(self.section["model_version"])

    @property
    def mode(self) -> str:
        return self.section["mode"]

    @property
    def upstreams(self) -> list[str]:
        return self.section["upstreams"]

    def takes(self, headers: Mapping[str, str], request_id: str) -> bool:
        """Whether this request is in the challenger's slice: by the sticky header if it has one."""
        sticky = self.section["sticky_header"]
        key = (headers.get(sticky) if sticky else None) or request_id
        return in_slice(key, self.section["percent"])

    def pick(self, in_rotation: list[str]) -> str | None:
        """The next challenger replica in rotation; None when none is."""
        if not in_rotation:
            return None
        self._turn += 1
        return in_rotation[self._turn % len(in_rotation)]

    def count(self, what: str) -> None:
        self.counts[what] += 1

    def observe(self, version: str, status: int, seconds: float) -> None:
        """An answer ``version`` gave, to a client or to a mirror."""
        self.versions.setdefault(version, VersionFigures()).observe(status, seconds)

    def mirror(self, size: int, job: Job) -> bool:
        """Queue a mirror (``job`` sends it); False over the queue's bound (the mirror is dropped)."""
        if not self.mirrors.offer(size, job):
            return False
        self.counts["mirrored"] += 1
        return True

    def snapshot(self) -> dict:
        """This worker's share of the challenge, as ``merge_challenges`` sums it."""
        return {"challenge_id": self.section["challenge_id"], "since": self.since, "counts": dict(self.counts),
                "mirror_queued": self.mirrors.waiting, "mirror_in_flight": self.mirrors.sending,
                "versions": {version: figures.snapshot() for version, figures in self.versions.items()}}


def merge_challenges(section: dict, snapshots: list[dict], in_rotation: list[str]) -> dict:
    """The challenge ``section`` describes, as ``/-/gateway`` reports it: the workers' counts summed
    (``mirrored`` counts copies queued; each ends as ``mirror_answered`` (below 500), ``mirror_errors``
    or ``mirror_failed``), latencies merged."""
    counts: Counter[str] = Counter()
    versions: dict[str, list[dict]] = {}
    for snapshot in snapshots:
        counts.update(snapshot["counts"])
        for version, figures in snapshot["versions"].items():
            versions.setdefault(version, []).append(figures)
    queued = sum(snapshot["mirror_queued"] for snapshot in snapshots)
    sending = sum(snapshot["mirror_in_flight"] for snapshot in snapshots)
    return {**section, "in_rotation": in_rotation, "since": min((one["since"] for one in snapshots), default=None),
            **{name: counts[name] for name in COUNTS}, "mirror_queued": queued, "mirror_in_flight": sending,
            "mirror_pending": queued + sending,
            "versions": {version: _version_summary(figures) for version, figures in versions.items()}}


def follow(current: Challenge | None, section: dict | None, champion_version: str) -> Challenge | None:
    """The challenge a reloaded route describes: the current one, counts kept, if it has the same
    ``challenge_id``; else a new one counting from zero (None for no challenger)."""
    same = current is not None and section is not None and current.section["challenge_id"] == section["challenge_id"]
    if current is not None and not same:
        current.mirrors.close()  # what it queued is still sent, then its lanes stop
    if section is None:
        return None
    if not same:
        return Challenge(section, champion_version)
    current.section, current.champion_version = section, champion_version
    current.mirrors.max_queued = section["max_queued"]
    current.versions.setdefault(champion_version, VersionFigures())
    current.versions.setdefault(current.version, VersionFigures())
    return current


def latency_counts(latencies_ms: Iterable[float]) -> list[tuple[float, int]]:
    """Latencies to 0.01 ms and how many of each, sorted: what a worker sends for p50/p99 over all workers."""
    return sorted(Counter(round(ms, 2) for ms in latencies_ms).items())


def percentiles(count_lists: Iterable[list[tuple[float, int]]], shares: tuple[float, ...]) -> list[float | None]:
    """Nearest-rank percentiles of the values ``latency_counts`` lists (of several workers); None for none."""
    merged: Counter[float] = Counter()
    for counts in count_lists:
        for value, count in counts:
            merged[value] += count
    ordered, total, found = sorted(merged.items()), sum(merged.values()), []
    for share in shares:
        rank, seen = min(total, max(1, math.ceil(share * total))), 0
        for value, count in ordered:
            seen += count
            if seen >= rank:
                found.append(value)
                break
        else:
            found.append(None)
    return found
