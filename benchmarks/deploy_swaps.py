"""Deploy and rollback times from the CLI, with warm spares against the cold chain, in one run.

Each action is the user's command, ``modelyard deploy`` or ``modelyard rollback``, run as its own
process on a fresh home holding two versions of the demo's breast cancer classifier (a
RandomForest) with 2 replicas. A thread sends ``/predict`` to the model's URL every 20 ms; an
action is **live** when the URL first answers with the version it serves, and **done** when the
command exits (the old servers drained and stopped, the alias moved).

- **cold** (``MODELYARD_SERVE_SPARES=false``, how every deploy ran before issue #22): first deploy,
  a new version, a rollback, each through new ``bentoml serve`` processes;
- **warm spares** (the default): the same three; the new version and the rollback load into the
  model's spares (``bento_services.swaps``). Before each, the script waits for the spares to be
  ready and reports how long that took after the command before.

Command: ``.venv/bin/python benchmarks/deploy_swaps.py`` (about 3 minutes).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NAME = "breast_cancer_classifier"
TARGETS = {"first deploy": 15.0, "new version": 5.0, "rollback": 3.0}  # seconds to live, issue #22


@dataclass
class Timed:
    action: str
    mode: str
    live_s: float | None
    done_s: float
    spares_ready_s: float | None = None  # how long the spares took to be ready before this action
    output: str = ""


@dataclass
class Poller:
    """``/predict`` every 20 ms; when each version first answered."""

    url: str
    row: dict
    first_seen: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.is_set():
                try:
                    answer = client.post(f"{self.url}/predict", json=[self.row])
                    if answer.status_code == 200:
                        self.first_seen.setdefault(answer.json()["model_version"], time.monotonic())
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)

    def __enter__(self):
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def modelyard(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / ".venv" / "bin" / "modelyard"), *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=tempfile.gettempdir())


def timed_action(env: dict[str, str], action: str, mode: str, args: list[str], url: str, row: dict,
                 version: int, spares_ready_s: float | None = None) -> Timed:
    """Run the command while polling the model's URL for ``version``."""
    started = time.monotonic()
    with Poller(url, row) as poller:
        done = modelyard(env, *args)
        done_s = time.monotonic() - started
        deadline = time.monotonic() + 10.0
        while version not in poller.first_seen and time.monotonic() < deadline:
            time.sleep(0.02)
    live = poller.first_seen.get(version)
    live_s = live - started if live is not None else None
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return Timed(action, mode, live_s, done_s, spares_ready_s, done.stdout.strip().splitlines()[0] if done.stdout else "")


def wait_spares(env: dict[str, str], count: int, timeout: float = 180.0) -> float:
    """Seconds until ``count`` spares of the model answer as spares."""
    from bento_services import spares
    from registry.settings import Settings

    settings = Settings(home=Path(env["MODELYARD_HOME"]))
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if sum(spares.is_ready(spare) for spare in spares.recorded(NAME, settings)) >= count:
            return time.monotonic() - started
        time.sleep(0.2)
    raise SystemExit(f"the spares of {NAME} were not ready after {timeout:.0f} s")


def run_mode(home: Path, mode: str, replicas: int) -> list[Timed]:
    from bento_services.endpoints import spare_port

    env = {**os.environ, "MODELYARD_HOME": str(home), "MODELYARD_SERVE_REPLICAS": str(replicas),
           "MODELYARD_SERVE_SPARES": "true" if mode == "warm spares" else "false"}
    port = spare_port()
    url = f"http://127.0.0.1:{port}"
    from pipelines.training import DEMO_MODELS, load_dataset

    row = {name: float(value) for name, value in load_dataset(DEMO_MODELS[NAME].dataset)[0].iloc[0].items()}
    results = [timed_action(env, "first deploy", mode, ["deploy", f"{NAME}/1", "--port", str(port)], url, row, 1)]
    try:
        ready = wait_spares(env, replicas) if mode == "warm spares" else None
        results.append(timed_action(env, "new version", mode, ["deploy", f"{NAME}/2"], url, row, 2, ready))
        ready = wait_spares(env, replicas) if mode == "warm spares" else None
        results.append(timed_action(env, "rollback", mode, ["rollback", NAME], url, row, 1, ready))
    finally:
        undeployed = time.monotonic()
        modelyard(env, "undeploy", NAME)
        print(f"  ({mode}: undeploy took {time.monotonic() - undeployed:.1f} s)", flush=True)
    return results


def print_table(results: list[Timed]) -> None:
    print("\nCLI command to the model's URL answering with the new version (live) and to the command's exit (done),"
          " 2 replicas, seconds:")
    print(f"{'action':<14} {'cold live':>10} {'cold done':>10} {'warm live':>10} {'warm done':>10} "
          f"{'spares warm after':>18} {'target':>7}  verdict")
    for action, target in TARGETS.items():
        cold = next(r for r in results if r.action == action and r.mode == "cold")
        warm = next(r for r in results if r.action == action and r.mode == "warm spares")

        def seconds(value):
            return f"{value:.1f}" if value is not None else "?"

        met = warm.live_s is not None and warm.live_s <= target
        print(f"{action:<14} {seconds(cold.live_s):>10} {seconds(cold.done_s):>10} {seconds(warm.live_s):>10} "
              f"{seconds(warm.done_s):>10} {seconds(warm.spares_ready_s):>18} {target:>6.0f}s  "
              f"{'met' if met else 'NOT met'} (live <= {target:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--work", type=Path, help="folder for the homes (default: a new temporary one)")
    args = parser.parse_args(argv)
    from pipelines.training import DEMO_MODELS, train_demo_model
    from registry.settings import Settings

    work = args.work or Path(tempfile.mkdtemp(prefix="deploy_swaps."))
    results = []
    for mode in ("cold", "warm spares"):
        home = work / mode.replace(" ", "_")
        settings = Settings(home=home)
        for _ in range(2):
            train_demo_model(DEMO_MODELS[NAME], settings)
        print(f"{mode}: two versions of {NAME} registered in {home}", flush=True)
        results += run_mode(home, mode, args.replicas)
        for result in results[-3:]:
            print(f"  {result.action}: live {result.live_s} s, done {result.done_s:.1f} s; {result.output}", flush=True)
    print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
