"""What BentoML's ASGI stack costs per request around a service, with and without its tracing.

The framework's floor (``benchmarks/constant_service.py``: a constant answer) is driven in-process,
without sockets or a load generator, so the figure is the stack's own CPU per request: BentoML's
middleware (traffic metrics, OpenTelemetry, the access log, the request timeout, its context) and
the mounted app. Each variant runs in its own process, because BentoML fixes its configuration at
import:

- "BentoML defaults": as ``bentoml serve`` runs any service, the floor of the online benchmark;
- "without tracing": every URL excluded from BentoML's OpenTelemetry middleware, as Modelyard's
  model servers run unless ``MODELYARD_SERVE_TRACING`` is on. At BentoML's default sample rate of 0
  the spans it makes are all dropped.

    .venv/bin/python benchmarks/asgi_stack.py --requests 3000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.harness import format_table, load_average  # noqa: E402

SERVICE = "benchmarks.constant_service:Constant"
SERVICE_NAME = "constant_floor"
VARIANTS = {
    "BentoML defaults": None,
    "without tracing (Modelyard's servers)": {"services": {SERVICE_NAME: {"tracing": {"excluded_urls": ["."]}}}},
}
BODY = json.dumps({"records": [{f"f{i}": 0.1 * i for i in range(20)}]}).encode()


def measure(requests: int, rounds: int) -> list[float]:
    """In this process: the service's ASGI app as BentoML's worker builds it, driven ``requests``
    times per round; CPU seconds per request of each round."""
    from bentoml._internal.context import server_context
    from bentoml._internal.service.loader import load

    service = load(SERVICE, standalone_load=True)
    server_context.service_name, server_context.service_type = service.name, "entry_service"
    app = service.to_asgi(is_main=True)

    async def one() -> int:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/predict", "raw_path": b"/predict", "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 3000),
                 "headers": [(b"host", b"127.0.0.1:3000"), (b"content-type", b"application/json"),
                             (b"content-length", str(len(BODY)).encode())]}
        statuses = []

        async def receive():
            return {"type": "http.request", "body": BODY, "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        return statuses[0]

    async def drive() -> list[float]:
        async with app.router.lifespan_context(app):
            if await one() != 200:
                raise RuntimeError("the service did not answer 200")
            per_round = []
            for _ in range(rounds):
                started = time.process_time()
                for _ in range(requests):
                    await one()
                per_round.append((time.process_time() - started) / requests)
            return per_round

    return asyncio.run(drive())


def run_variant(overrides: dict | None, requests: int, rounds: int) -> list[float]:
    env = {key: value for key, value in os.environ.items() if key != "BENTOML_CONFIG_OVERRIDES"}
    env["BENTOML_DO_NOT_TRACK"] = "true"
    if overrides:
        env["BENTOML_CONFIG_OVERRIDES"] = json.dumps(overrides)
    done = subprocess.run([sys.executable, __file__, "--child", "--requests", str(requests), "--rounds", str(rounds)],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("__cpu__:")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the measuring process exited {done.returncode}:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1].removeprefix("__cpu__:"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("__cpu__:" + json.dumps(measure(args.requests, args.rounds)), flush=True)
        return
    print(f"{SERVICE} in-process, {args.rounds} rounds of {args.requests} requests; {load_average()}", flush=True)
    figures = {name: statistics.median(run_variant(overrides, args.requests, args.rounds))
               for name, overrides in VARIANTS.items()}
    baseline = figures["BentoML defaults"]
    rows = [(name, f"{seconds * 1e6:.0f}", f"{seconds / baseline:.2f}x") for name, seconds in figures.items()]
    print(format_table(("stack", "CPU us/request", "of defaults"), rows))


if __name__ == "__main__":
    main()
