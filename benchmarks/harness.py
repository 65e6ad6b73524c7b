"""What the benchmarks here share: a throwaway work folder, measuring a process tree (peak RSS, CPU,
others' load meanwhile), the children's environment, a free port, a text table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class TreeMonitor(threading.Thread):
    """Polls the summed RSS (and CPU time) of a process and all its descendants until stopped;
    ``also`` are long-lived process trees that work for it (a warm Dask cluster's workers), whose
    CPU counts from the first sample on."""

    def __init__(self, pid: int, interval: float = 0.05, also: tuple[int, ...] = ()):
        super().__init__(daemon=True)
        self.pid, self.interval, self.also = pid, interval, also
        self.peak_rss = 0
        self.cpu: dict[tuple[int, float], float] = {}
        self.cpu_before: dict[tuple[int, float], float] = {}
        self._stop_event = threading.Event()

    def _processes(self, psutil) -> list[tuple[object, bool]]:
        """Every process watched, and whether it belongs to a long-lived tree of ``also``."""
        found = []
        for pid in (self.pid, *self.also):
            try:
                root = psutil.Process(pid)
                found += [(process, pid != self.pid) for process in [root, *root.children(recursive=True)]]
            except psutil.NoSuchProcess:
                continue
        return found

    def run(self) -> None:
        import psutil

        while not self._stop_event.is_set():
            total = 0
            for process, long_lived in self._processes(psutil):
                try:
                    with process.oneshot():
                        total += process.memory_info().rss
                        times = process.cpu_times()
                        key = (process.pid, process.create_time())
                        self.cpu[key] = times.user + times.system
                        if long_lived:
                            self.cpu_before.setdefault(key, self.cpu[key])
                except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                    continue
            self.peak_rss = max(self.peak_rss, total)
            self._stop_event.wait(self.interval)

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu.values()) - sum(self.cpu_before.values())

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def busy_cpu_seconds() -> float:
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


@dataclass
class TreeRun:
    """What one process tree took: wall time, peak summed RSS, CPU time, and others' load meanwhile."""

    wall_s: float
    peak_rss_mb: float
    cpu_s: float
    others_cpu: float  # cores' worth of CPU used by processes outside the measured tree
    started_epoch: float


def measure(command: list[str], log: Path, env: dict[str, str], also: tuple[int, ...] = ()) -> TreeRun:
    """Run ``command`` to its end while a thread watches its process tree (and ``also``'s)."""
    import psutil

    log.parent.mkdir(parents=True, exist_ok=True)
    busy_before, started_epoch, started = busy_cpu_seconds(), time.time(), time.perf_counter()
    with log.open("w") as output:
        process = psutil.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
        monitor = TreeMonitor(process.pid, also=also)
        monitor.start()
        code = process.wait()
        wall = time.perf_counter() - started
        monitor.stop()
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise SystemExit(f"{' '.join(command[:4])} ... exited {code}; last lines of {log}:\n{tail}")
    own = monitor.cpu_s
    others = max(busy_cpu_seconds() - busy_before - own, 0.0) / wall
    return TreeRun(wall, monitor.peak_rss / 2**20, own, others, started_epoch)


def child_env(settings) -> dict[str, str]:
    """The caller's environment without MODELYARD_* (every child is told its home explicitly)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODELYARD_")}
    env.update({"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "PYTHONUNBUFFERED": "1",
                "MLFLOW_TRACKING_URI": settings.tracking_uri, "MLFLOW_REGISTRY_URI": settings.registry_uri})
    return env


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_average() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Text columns left-aligned, figures right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


@contextmanager
def throwaway_workdir(parent: Path, prefix: str, *, keep: bool):
    """A fresh folder under ``parent`` for one run, removed afterwards unless ``keep``; the run's
    start time and command line are printed first."""
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}",
          flush=True)
    try:
        yield work
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
