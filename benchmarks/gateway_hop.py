"""What the model gateway's hop costs per request: a BentoML service answering a constant, alone and
behind each proxy, measured alternately in one run.

- "server direct": ``benchmarks/constant_service.py`` with one worker, no proxy;
- "aiohttp proxy": ``benchmarks/aiohttp_proxy.py``, aiohttp's server and client and nothing else,
  the least the gateway cost while its hop went through aiohttp's client (the baseline);
- "gateway, N workers": ``python -m bento_services.gateway`` as deployments start it (gunicorn's
  master and N aiohttp workers, metrics, failover, request ids), with ``--workers`` each.

Each cell is the online benchmark's load generator (its own process, single-row JSON bodies) at one
concurrency; proxies and the server are measured in turn, ``--rounds`` times, and pooled. The hop's
cost is the proxy's own CPU per request and the p50 it adds over the server alone.

    .venv/bin/python benchmarks/gateway_hop.py --rounds 2
"""

from __future__ import annotations

import argparse
import os
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.harness import format_table, free_port, load_average, throwaway_workdir  # noqa: E402
from benchmarks.online_serving import _tree_cpu  # noqa: E402

BODY = json.dumps({"dataframe_split": {"columns": [f"f{i}" for i in range(20)],
                                       "data": [[round(0.1 * i, 1) for i in range(20)]]}})
READY_TIMEOUT = 120.0


@dataclass
class Runner:
    name: str
    url: str
    pids: list[int]  # the proxy's process tree (the server's, for "server direct")
    latencies_ms: list[float] = field(default_factory=list)
    requests: int = 0
    measured_s: float = 0.0
    cpu_s: float = 0.0
    failed: int = 0


def _cell(runner: Runner, concurrency: int, args: argparse.Namespace, work: Path) -> None:
    spec, result = work / f"{runner.name}-{concurrency}.json", work / f"{runner.name}-{concurrency}.out"
    spec.write_text(json.dumps({"url": runner.url, "bodies": [BODY], "concurrency": concurrency,
                                "warmup": args.warmup, "seconds": args.seconds}))
    before = _tree_cpu(runner.pids)
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "online_serving.py"), "--child-load", str(spec),
                    "--child-result", str(result)], check=True)
    runner.cpu_s += _tree_cpu(runner.pids) - before
    outcome = json.loads(result.read_text())
    runner.latencies_ms += [seconds * 1000 for seconds in outcome["latencies"]]
    runner.requests += outcome["requests_total"]
    runner.measured_s += outcome["measured_s"]
    runner.failed += sum(outcome["failures"].values())


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def run(args: argparse.Namespace, work: Path) -> int:
    from bento_services.gateway import write_route
    from bento_services.servers import wait_ready
    from infra.processes import children, launch, stop

    started = []

    def start(name: str, command: list[str], env: dict | None = None) -> tuple[str, list[int]]:
        port = free_port()
        leader = launch(name, [part.replace("{port}", str(port)) for part in command],
                        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                        log=work / f"{name}.log")
        started.append(leader)
        url = f"http://127.0.0.1:{port}"
        wait_ready(leader, url, READY_TIMEOUT)
        return url, [leader.pid]

    try:
        server, server_pids = start("server", [sys.executable, "-m", "bentoml", "serve",
                                               "benchmarks.constant_service:Constant", "--host", "127.0.0.1",
                                               "--port", "{port}", "--working-dir", str(REPO)],
                                    {"FLOOR_WORKERS": "1", "BENTOML_HOME": str(work / "bentoml")})
        runners = [Runner("server direct", f"{server}/predict", server_pids)]
        url, pids = start("aiohttp-proxy", [sys.executable, str(REPO / "benchmarks" / "aiohttp_proxy.py"),
                                            "--port", "{port}", "--upstream", server])
        runners.append(Runner("aiohttp proxy", f"{url}/predict", pids))
        for workers in args.workers:
            routes = work / f"gateway-{workers}" / "route.json"
            write_route(routes, {"upstreams": [server], "model_name": "constant", "model_version": "1"})
            url, pids = start(f"gateway-{workers}", [sys.executable, "-m", "bento_services.gateway", "--port",
                                                     "{port}", "--workers", str(workers), "--routes", str(routes)])
            runners.append(Runner(f"gateway, {workers} worker{'s' if workers > 1 else ''}", f"{url}/predict", pids))
        cells: dict[tuple[str, int], Runner] = {}
        for concurrency in args.concurrency:
            pooled = {runner.name: Runner(runner.name, runner.url, runner.pids) for runner in runners}
            for round_ in range(args.rounds):
                for runner in runners:
                    _cell(pooled[runner.name], concurrency, args, work)
                print(f"  c={concurrency} round {round_ + 1}/{args.rounds} done; {load_average()}", flush=True)
            cells.update({(name, concurrency): runner for name, runner in pooled.items()})
    finally:
        for leader in reversed(started):
            stop([*children(leader), leader], timeout=15.0)
    print_report(cells, args)
    return 1 if any(runner.failed for runner in cells.values()) else 0


def print_report(cells: dict[tuple[str, int], Runner], args: argparse.Namespace) -> None:
    rows = []
    for (name, concurrency), runner in cells.items():
        direct = cells[("server direct", concurrency)]
        p50 = _percentile(runner.latencies_ms, 50)
        added = "-" if runner is direct else f"{p50 - _percentile(direct.latencies_ms, 50):+.2f}"
        rows.append((name, str(concurrency), f"{len(runner.latencies_ms) / runner.measured_s:,.0f}", f"{p50:.2f}",
                     f"{_percentile(runner.latencies_ms, 99):.2f}", added,
                     f"{runner.cpu_s / runner.requests * 1000:.3f}", str(runner.failed)))
    print(f"\nThe gateway's hop: a constant BentoML service (1 worker) alone and behind each proxy; {args.rounds} "
          f"round(s) of {args.warmup:g} s warm-up + {args.seconds:g} s per cell, pooled")
    print(format_table(("runner", "c", "req/s", "p50 ms", "p99 ms", "p50 added ms", "own CPU ms/req", "failed"),
                       rows))
    print("own CPU: the proxy's process tree (the server's for \"server direct\") per request, warm-up included.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=lambda text: [int(n) for n in text.split(",")], default=[1, 8])
    parser.add_argument("--workers", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2],
                        help="gateway worker counts, one gateway each")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=Path("var/benchmarks"))
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with throwaway_workdir(args.workdir, "gateway-hop-", keep=args.keep) as work:
        return run(args, work)


if __name__ == "__main__":
    raise SystemExit(main())
