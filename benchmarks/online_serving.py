"""Online serving benchmark: a deployed Modelyard service beside ``mlflow models serve`` and in-process predict.

Single-row JSON requests on loopback from a bounded load generator (a fixed number of workers
sending back to back, each cell in its own process), at several concurrencies, for the
RandomForest and LogisticRegression of ``batch_data.py`` registered in a throwaway home:

- (a) Modelyard: ``deploy_model`` (bentoml build + serve, readiness, parity, the model's gateway),
  ``POST /predict`` on the model's stable URL, and on the bentoml server behind it ("backend direct");
  then deployed again with each other number of replicas in ``--replicas`` behind the same URL;
- the request log's cost (``--log-cost``, on by default): the version with its request log off and
  a twin (the same model registered again, ``bench_<kind>_twin``) logging as deployments do by
  default, both served at once with one replica and measured alternately at each concurrency
  (``--log-rounds`` times, pooled: one 10 s cell at c=8 varies by about 10 % from the next), so a
  neighbour's load falls on both alike; target: at most 5 % of c=8 throughput and 0.5 ms of c=1 p50;
- a shadow challenger's cost (``--shadow-cost``, on by default): the version served alone beside a
  twin (``bench_<kind>_shadowed``, version 1) whose every request is also mirrored to its version 2
  in a shadow challenge, one replica each, measured alternately (``--shadow-rounds``); target: the
  champion's c=8 p99 at most 20 % above the one without a challenger, no request failed;
- with ``--runtimes auto,native``, each deployment again with ``--runtime native`` (the model's
  own library behind the same request path);
- (b) ``mlflow models serve --env-manager local`` on the same version, ``POST /invocations``;
- (c) ``load_predictor(...).predict(one_row_frame)`` called in a loop in this process: the floor;
  and for the runtime a deploy chooses (``registry.compiling.choose_for_version``: ONNX Runtime for
  these models where it passes parity, its figures printed) ``predict_arrays`` on one-row float
  matrices, as the request path calls it;
- (d) the framework's floor: ``benchmarks/constant_service.py``, a BentoML service returning a
  constant answer with as many workers as the most replicas asked for, in BentoML's default
  configuration (its OpenTelemetry spans included, which Modelyard's model servers skip unless
  ``MODELYARD_SERVE_TRACING`` is on: ``benchmarks/asgi_stack.py``), driven by the same load
  generator, alternately with the deployment of the most replicas (``--floor-rounds`` rounds,
  pooled: between two runs minutes apart the floor itself moved from 1,411 to 2,602 req/s at c=8); targets: through the model's URL with that many replicas, c=1 p50 at most 2x the
  floor's, c=8 at least 65 % of its req/s with p99 at most 15 ms, and at least 10x mlflow at c=8.

One deployment (or mlflow server) runs at a time. Figures and the command: benchmarks/README.md.

    .venv/bin/python benchmarks/online_serving.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.batch_data import MODEL_KINDS, make_rows, register_model  # noqa: E402  (the repository first)
from benchmarks.harness import (  # noqa: E402
    busy_cpu_seconds, child_env, format_table, free_port, load_average, throwaway_workdir,
)

REQUEST_STREAM = 1_000_003  # the rows sent as requests: same law as training, a stream of their own
POOL_ROWS = 1000
AGREEMENT_ROWS = 20
TARGET_RATIO, TARGET_P99_MS, TARGET_READY_S = 2.5, 50.0, 20.0
TARGET_CONCURRENCY = 8
TARGET_LOG_THROUGHPUT_LOSS, TARGET_LOG_P50_MS = 0.05, 0.5  # what the request log may cost
TARGET_SHADOW_P99_RISE = 0.20  # what a shadow challenger at 100 % may add to the champion's c=8 p99
TARGET_COMPILED_ONE_ROW_MS = 0.1  # the chosen runtime's one-row predict on float rows, in process
TARGET_FLOOR_P50_RATIO, TARGET_FLOOR_SHARE, TARGET_FLOOR_P99_MS, TARGET_MLFLOW_RATIO = 2.0, 0.65, 15.0, 10.0
CONTENDED_CORES = 0.2  # others' CPU above this is called out under the table
READY_TIMEOUT = 120.0
MAX_REPLICAS = 8
RUNNERS = {"modelyard": "(a) modelyard",  # in the table's order
           **{f"modelyard-{n}": f"(a) modelyard, {n} replicas" for n in range(2, MAX_REPLICAS + 1)},
           "modelyard-native": "(a) modelyard, native runtime",
           **{f"modelyard-{n}-native": f"(a) modelyard, {n} replicas, native runtime"
              for n in range(2, MAX_REPLICAS + 1)},
           "log-on": "(a) 1 replica, request log on", "log-off": "(a) 1 replica, request log off",
           "shadow-off": "(a) 1 replica, no challenger", "shadow-on": "(a) 1 replica, shadow challenger 100 %",
           "backend": "(a) backend direct", "mlflow": "(b) mlflow serve", "floor": "(c) in-process", "floor-compiled": "(c) in-process, compiled, float rows",
           **{f"constant-{n}": f"(d) BentoML constant answer, {n} worker{'s' if n > 1 else ''}"
              for n in range(1, MAX_REPLICAS + 1)}}
DEPLOY_STEPS = {"build": "build (download, load, bentoml build)", "bentoml build": "of which bentoml build",
                "launch": "launch", "check_health": "wait for /readyz", "check_parity": "parity check",
                "promote": "promote (gateway, alias)"}


# --- the load generator (its own process) ------------------------------------------------------

async def _drive(spec: dict) -> dict:
    """``concurrency`` workers post bodies back to back; latencies of requests started after warm-up.

    aiohttp rather than httpx: on loopback it costs the generator about 0.08 ms of CPU per request
    against httpx's 0.55 ms, and here the generator shares two cores with the server.
    """
    import aiohttp

    bodies = [body.encode() for body in spec["bodies"]]
    concurrency, url = spec["concurrency"], spec["url"]
    latencies, failures, counts = [], {}, {"total": 0, "last_done": 0.0}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    headers = {"content-type": "application/json"}
    started = time.perf_counter()
    measure_from = started + spec["warmup"]
    stop_at = measure_from + spec["seconds"]

    async def worker(index: int) -> None:
        while (sent := time.perf_counter()) < stop_at:
            body = bodies[index % len(bodies)]
            index += concurrency
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    text = await response.text()
                    problem = None if response.status == 200 else f"HTTP {response.status}: {text[:200]}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                problem = f"{type(error).__name__}: {error}"
            done = time.perf_counter()
            counts["total"] += 1
            if problem:
                failures[problem] = failures.get(problem, 0) + 1
            if sent >= measure_from:
                latencies.append(done - sent)
                counts["last_done"] = max(counts["last_done"], done)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(index) for index in range(concurrency)))
    return {"latencies": latencies, "failures": failures, "requests_total": counts["total"],
            "measured_s": max(counts["last_done"] - measure_from, 1e-9)}


def run_load_child(spec_path: Path, result_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    before = _own_cpu()
    outcome = asyncio.run(_drive(spec))
    outcome.update(cpu_drive_s=_own_cpu() - before, cpu_total_s=_own_cpu())
    result_path.write_text(json.dumps(outcome))


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- measurements --------------------------------------------------------------------------------

@dataclass
class Cell:
    """One runner at one concurrency: measured requests, failures, CPU spent on either side."""

    model: str
    runner: str
    concurrency: int
    latencies_ms: list[float]
    measured_s: float
    failed: int
    requests_total: int
    server_cpu_s: float | None
    loadgen_cpu_s: float | None
    others_cpu: float | None
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def per_s(self) -> float:
        return self.requests / self.measured_s

    def percentile(self, q: float) -> float:
        import numpy as np

        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def _tree_cpu(pids: list[int]) -> float:
    """User + system CPU of these processes and all their descendants, each counted once."""
    import psutil

    seen, total = set(), 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in tree:
            if process.pid in seen:
                continue
            seen.add(process.pid)
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            total += times.user + times.system + times.children_user + times.children_system
    return total


@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    settings: object
    pool: object  # the request rows, a DataFrame
    cells: list[Cell] = field(default_factory=list)
    ready_s: dict[tuple[str, str], float] = field(default_factory=dict)
    deploy_steps: dict[str, dict[str, float]] = field(default_factory=dict)
    agreement: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    mirrors: list[str] = field(default_factory=list)  # what the shadowed gateway counted

    def load_cell(self, kind: str, runner: str, url: str, concurrency: int, server_pids: list[int]) -> Cell:
        """Run the load generator once, in its own process, while this one watches the CPU."""
        label = f"{kind}-{runner}-c{concurrency}"
        spec_path, result_path = self.work / "specs" / f"{label}.json", self.work / "results" / f"{label}.json"
        for folder in (spec_path.parent, result_path.parent):
            folder.mkdir(exist_ok=True)
        spec_path.write_text(json.dumps({"url": url, "bodies": request_bodies(self.pool, runner),
                                         "concurrency": concurrency, "warmup": self.args.warmup,
                                         "seconds": self.args.seconds}))
        command = [sys.executable, str(Path(__file__).resolve()), "--child-load", str(spec_path),
                   "--child-result", str(result_path)]
        server_before, busy_before, started = _tree_cpu(server_pids), busy_cpu_seconds(), time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=self.args.warmup + self.args.seconds + 300)
        wall = time.perf_counter() - started
        server_cpu, busy = _tree_cpu(server_pids) - server_before, busy_cpu_seconds() - busy_before
        if done.returncode != 0:
            raise SystemExit(f"the load generator exited {done.returncode}:\n{(done.stdout + done.stderr)[-2000:]}")
        outcome = json.loads(result_path.read_text())
        total = outcome["requests_total"]
        cell = Cell(kind, RUNNERS[runner], concurrency, [s * 1000 for s in outcome["latencies"]],
                    outcome["measured_s"], sum(outcome["failures"].values()), total,
                    server_cpu, outcome["cpu_drive_s"], max(busy - server_cpu - outcome["cpu_total_s"], 0.0) / wall,
                    outcome["failures"])
        self._record(cell)
        return cell

    def floor_cell(self, kind: str, predictor, runner: str = "floor") -> Cell:
        """``predict`` on one-row frames, back to back in this process: what a request cannot beat; for
        the compiled runtime, ``predict_arrays`` on one-row float matrices, as the request path calls it."""
        frames = [self.pool.iloc[[index]].reset_index(drop=True) for index in range(len(self.pool))]
        call = predictor.predict
        if runner == "floor-compiled":
            names = predictor.card.feature_names
            frames = [frame[names].to_numpy(dtype="float64") for frame in frames]
            call = predictor.predict_arrays
        latencies, index = [], 0
        busy_before, cpu_before, started = busy_cpu_seconds(), time.process_time(), time.perf_counter()
        measure_from = started + self.args.warmup
        stop_at = measure_from + self.args.seconds
        while (sent := time.perf_counter()) < stop_at:
            call(frames[index % len(frames)])
            index += 1
            if sent >= measure_from:
                latencies.append((time.perf_counter() - sent) * 1000)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        others = max(busy_cpu_seconds() - busy_before - cpu, 0.0) / wall
        cell = Cell(kind, RUNNERS[runner], 1, latencies, time.perf_counter() - measure_from, 0, index,
                    cpu, None, others)
        self._record(cell)
        return cell

    def _record(self, cell: Cell) -> None:
        self.cells.append(cell)
        print(f"  [{cell.model}] {cell.runner} c={cell.concurrency}: {cell.requests:,} requests, {cell.per_s:,.0f}/s, "
              f"p50 {cell.percentile(50):.2f} ms, p99 {cell.percentile(99):.2f} ms, failed {cell.failed}; "
              f"{load_average()}",
              flush=True)
        for problem, count in cell.failures.items():
            self.errors.append(f"{cell.model} {cell.runner} c={cell.concurrency}: {count} x {problem}")


def request_bodies(pool, runner: str) -> list[str]:
    """Every pool row as the JSON body of a one-row request, in the runner's format."""
    wrap = (lambda row: {"dataframe_records": [row]}) if runner == "mlflow" else (lambda row: [row])
    return [json.dumps(wrap(row)) for row in pool.to_dict(orient="records")]


# --- the runners ---------------------------------------------------------------------------------

def bench_modelyard(bench: Bench, kind: str, ref: str, predictor, replicas: int = 1, runtime: str = "auto") -> None:
    """(a): the real deploy path with ``replicas`` servers, timed as deploy-to-ready, then every
    concurrency; always undeployed. The first deployment is also measured without its gateway."""
    from bento_services import deploy

    runner = ("modelyard" if replicas == 1 else f"modelyard-{replicas}") + ("-native" if runtime == "native" else "")
    seconds: dict[str, float] = {}
    floor = None
    started = time.perf_counter()
    port = bench.ports.setdefault(kind, free_port())  # a model keeps its endpoint port across deploys
    info = deploy.deploy_model(ref, port=port, replicas=replicas, runtime=runtime, settings=bench.settings,
                               timings=seconds)
    try:
        bench.ready_s[(kind, runner)] = time.perf_counter() - started
        if runner == "modelyard":
            bench.deploy_steps[kind] = {DEPLOY_STEPS[step]: value for step, value in seconds.items()
                                        if step in DEPLOY_STEPS}
        print(f"  [{kind}] deployed {ref} with {replicas} replica(s) at {info.url} in "
              f"{bench.ready_s[(kind, runner)]:.1f} s (pids {info.pids}); runtime {info.runtime.summary}", flush=True)
        url = f"{info.url}/predict"
        agree = _agreement(url, bench.pool, predictor, "modelyard", lambda body: body["predictions"][0]["prediction"])
        targets = [(runner, url, [*info.pids, *_listener_pids(info.url)])]
        if replicas == bench.args.replicas[0] and runtime == "auto":  # the gateway's share: the server without the hop
            first = info.replicas[0]
            targets.append(("backend", f"http://127.0.0.1:{first.port}/predict", first.pids))
        rounds = 1
        if replicas == max(bench.args.replicas) and runtime == "auto":  # the floor beside it, in the same minutes
            floor = _start_constant(bench, replicas)
            targets.append((f"constant-{replicas}", f"{floor.url}/predict", floor.pids))
            rounds = bench.args.floor_rounds
        for round_ in range(rounds):  # the first target goes first every other round
            for concurrency in bench.args.concurrency:  # alternately: BentoML's batching remembers the last load
                for runner, target, pids in targets[::-1] if round_ % 2 else targets:
                    bench.load_cell(kind, runner, target, concurrency, pids)
    finally:
        if floor is not None:
            floor.stop()
        deploy.undeploy(ref.split("/")[0], settings=bench.settings)
    which = "" if runtime == "auto" else f" {runtime}"
    bench.agreement.append(f"{kind}: (a){which} {agree}" if replicas == 1 else f"{kind}: (a) x{replicas}{which} {agree}")


@dataclass
class ConstantServer:
    """(d) running: the constant-answer BentoML service."""

    url: str
    leader: object  # infra.processes.Process

    @property
    def pids(self) -> list[int]:
        from infra.processes import children

        return [self.leader.pid, *[process.pid for process in children(self.leader)]]

    def stop(self) -> None:
        from infra.processes import children, stop

        stop([*children(self.leader), self.leader], timeout=15.0)


def _start_constant(bench: Bench, workers: int) -> ConstantServer:
    """(d) with ``workers`` workers, ready; stopped by PID (``ConstantServer.stop``)."""
    from bento_services.servers import wait_ready
    from infra.processes import launch

    port = free_port()
    env = {**child_env(bench.settings), "FLOOR_WORKERS": str(workers), "BENTOML_HOME": str(bench.work / "bentoml")}
    command = [sys.executable, "-m", "bentoml", "serve", "benchmarks.constant_service:Constant",
               "--host", "127.0.0.1", "--port", str(port), "--working-dir", str(REPO)]
    server = ConstantServer(f"http://127.0.0.1:{port}",
                            launch(f"constant-{workers}", command, env=env,
                                   log=bench.work / "logs" / f"constant-{workers}.log"))
    try:
        wait_ready(server.leader, server.url, READY_TIMEOUT)
    except BaseException:
        server.stop()
        raise
    return server


def bench_constant(bench: Bench, kind: str, workers: int) -> None:
    """(d) alone, when no deployment was measured beside it (``--runtimes`` without auto)."""
    server = _start_constant(bench, workers)
    try:
        for concurrency in bench.args.concurrency:
            bench.load_cell(kind, f"constant-{workers}", f"{server.url}/predict", concurrency, server.pids)
    finally:
        server.stop()


def bench_log_cost(bench: Bench, kind: str, ref: str, twin: str, predictor) -> None:
    """The request log's cost: ``ref`` served with the log off and ``twin`` with it on (the default),
    at once, one replica each, measured alternately at each concurrency; both undeployed."""
    from bento_services import deploy

    deployed = []
    try:
        for runner, model_ref, log in (("log-off", ref, False), ("log-on", twin, True)):
            settings = bench.settings.model_copy(update={"serve_request_log": log})
            info = deploy.deploy_model(model_ref, port=free_port(), replicas=1, settings=settings)
            deployed.append((runner, info))
            agree = _agreement(f"{info.url}/predict", bench.pool, predictor, "modelyard",
                               lambda body: body["predictions"][0]["prediction"])
            bench.agreement.append(f"{kind}: {RUNNERS[runner]} {agree}")
        for round_ in range(bench.args.log_rounds):  # the first of the two goes first every other round
            for concurrency in bench.args.concurrency:
                for runner, info in deployed[::-1] if round_ % 2 else deployed:
                    bench.load_cell(kind, runner, f"{info.url}/predict", concurrency,
                                    [*info.pids, *_listener_pids(info.url)])
    finally:
        for _, info in deployed:
            deploy.undeploy(info.model_name, settings=bench.settings)


def bench_shadow_cost(bench: Bench, kind: str, ref: str, shadowed: str, predictor) -> None:
    """A shadow challenger's cost: ``ref`` served alone, and ``shadowed`` (version 1 of a twin)
    with its version 2 in a shadow challenge at 100 %, at once, one replica each, measured
    alternately at each concurrency; the challenge ended and both undeployed."""
    from bento_services import deploy
    from bento_services.challenges import end_challenge, start_challenge
    from registry.challenges import Rule

    name = shadowed.split("/")[0]
    deployed, challenger_pids = [], []
    try:
        for runner, model_ref in (("shadow-off", ref), ("shadow-on", shadowed)):
            info = deploy.deploy_model(model_ref, port=free_port(), replicas=1, settings=bench.settings)
            deployed.append((runner, info))
        challenge = start_challenge(name, 2, mode="shadow", percent=100, replicas=1, settings=bench.settings,
                                    rule=Rule(auto_promote=False, auto_rollback=False))
        challenger_pids = _deployment_pids(bench.settings, challenge.deployment_id)
        for runner, info in deployed:
            agree = _agreement(f"{info.url}/predict", bench.pool, predictor, "modelyard",
                               lambda body: body["predictions"][0]["prediction"])
            bench.agreement.append(f"{kind}: {RUNNERS[runner]} {agree}")
        for round_ in range(bench.args.shadow_rounds):
            for concurrency in bench.args.concurrency:
                for runner, info in deployed[::-1] if round_ % 2 else deployed:
                    extra = challenger_pids if runner == "shadow-on" else []
                    bench.load_cell(kind, runner, f"{info.url}/predict", concurrency,
                                    [*info.pids, *_listener_pids(info.url), *extra])
        bench.mirrors.append(_mirror_counts(kind, deployed[1][1].url))
    finally:
        if len(deployed) == 2:
            end_challenge(name, settings=bench.settings)
        for _, info in deployed:
            deploy.undeploy(info.model_name, settings=bench.settings)


def _deployment_pids(settings, deployment_id: int) -> list[int]:
    from registry.metadata.db import session_scope
    from registry.metadata.tables import Deployment

    with session_scope(settings) as session:
        return [record["pid"] for record in session.get(Deployment, deployment_id).pids]


def _mirror_counts(kind: str, url: str, *, drain_seconds: float = 120.0) -> str:
    """The shadowed gateway's counts once its queued copies are sent (or ``drain_seconds`` passed)."""
    import httpx

    deadline = time.monotonic() + drain_seconds
    while (found := httpx.get(f"{url}/-/gateway", timeout=10).json()["challenger"])["mirror_pending"] \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    return (f"{kind}: the shadowed gateway answered {found['versions'].get('1', {}).get('requests', 0):,} scoring "
            f"requests and mirrored {found['mirrored']:,}: {found['mirror_answered']:,} answered, "
            f"{found['mirror_errors']} errors, {found['mirror_failed']} unanswered, {found['mirror_dropped']} dropped "
            f"at the bound, {found['mirror_skipped']} skipped, {found['mirror_pending']} still to send")


def bench_mlflow(bench: Bench, kind: str, ref: str, predictor) -> None:
    """(b): ``mlflow models serve`` on the same version, one uvicorn worker (its default); stopped by PID."""
    from infra.processes import children, launch, project_path, stop

    name, version = ref.split("/")
    port = free_port()
    env = {**child_env(bench.settings), "PATH": project_path()}  # mlflow runs the uvicorn on PATH
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}/{version}",
               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    started = time.perf_counter()
    leader = launch(f"mlflow-serve-{kind}", command, env=env, log=bench.work / "logs" / f"mlflow-serve-{kind}.log")
    processes = [leader]
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_mlflow_ready(leader, url)
        bench.ready_s[(kind, "mlflow")] = time.perf_counter() - started
        processes += children(leader)
        print(f"  [{kind}] mlflow models serve ready at {url} in {bench.ready_s[(kind, 'mlflow')]:.1f} s "
              f"(pids {[process.pid for process in processes]})", flush=True)
        agree = _agreement(f"{url}/invocations", bench.pool, predictor, "mlflow", lambda body: body["predictions"][0])
        for concurrency in bench.args.concurrency:
            bench.load_cell(kind, "mlflow", f"{url}/invocations", concurrency, [leader.pid])
    finally:
        workers = {process.pid: process for process in [*processes[1:], *children(leader)]}
        stop([*workers.values(), leader], timeout=15.0)  # uvicorn first, then the mlflow CLI that started it
    bench.agreement.append(f"{kind}: (b) {agree}")


def _listener_pids(url: str) -> list[int]:
    """The processes listening on the URL's port (a gateway in front of the server, if any), each
    climbed to the furthest parent that listens there too: psutil names one process per socket, and
    the gateway's master shares its socket with its workers, so it may name a worker alone."""
    import psutil

    port = int(url.rsplit(":", 1)[1])

    def listening(connections) -> list:
        return [conn for conn in connections if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port]

    def listens(process) -> bool:
        try:
            return bool(listening(process.net_connections(kind="tcp")))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    pids = set()
    for conn in listening(psutil.net_connections(kind="tcp")):
        if conn.pid:
            process = psutil.Process(conn.pid)
            while (parent := process.parent()) is not None and listens(parent):
                process = parent
            pids.add(process.pid)
    return sorted(pids)


def _wait_mlflow_ready(leader, url: str) -> None:
    from bento_services.servers import wait_ready

    try:
        wait_ready(leader, url, READY_TIMEOUT, path="/ping")
    except (RuntimeError, TimeoutError) as error:
        raise SystemExit(f"mlflow models serve: {error}") from None


def _agreement(url: str, pool, predictor, runner: str, label_of) -> str:
    """The first rows one request at a time: the served label must be the in-process one."""
    import httpx

    rows = pool.head(AGREEMENT_ROWS)
    expected = predictor.predict(rows)["prediction"].tolist()
    served = []
    for body in request_bodies(rows, runner):
        response = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=30.0)
        if response.status_code != 200:
            raise SystemExit(f"POST {url} answered {response.status_code}: {response.text[:500]}")
        served.append(label_of(response.json()))
    same = sum(got == want for got, want in zip(served, expected))
    return f"{same}/{len(expected)} single-row answers equal the in-process prediction"


# --- the benchmark -------------------------------------------------------------------------------

def run_benchmark(args: argparse.Namespace, work: Path) -> int:
    from registry.catalog import download_model_dir
    from registry.compiling import choose_for_version
    from registry.predictors import load_predictor
    from registry.settings import Settings

    print(f"working data under {work}; {load_average()}", flush=True)
    # no warm spares: each redeploy here would start spares that warm up (CPU) while cells are measured;
    # what they change, deploy and rollback times, is benchmarks/deploy_swaps.py's to measure
    settings = Settings(home=work / "home", dask_scheduler=None, serve_spares=False)
    pool, _ = make_rows(POOL_ROWS, REQUEST_STREAM)
    bench = Bench(args, work, settings, pool)
    refs = {kind: register_model(kind, args.train_rows, settings) for kind in args.models}
    twins = {kind: register_model(kind, args.train_rows, settings, name=f"bench_{kind}_twin")
             for kind in args.models} if args.log_cost else {}
    shadowed = {kind: [register_model(kind, args.train_rows, settings, name=f"bench_{kind}_shadowed")
                       for _ in range(2)][0] for kind in args.models} if args.shadow_cost else {}
    for kind in args.models:
        model_dir = download_model_dir(refs[kind], work / "models" / kind, settings)
        predictor = load_predictor(model_dir)
        bench.floor_cell(kind, predictor)
        compiled, choice = choose_for_version(predictor, model_dir)
        print(f"  [{kind}] runtime a deploy chooses: {choice.summary}", flush=True)
        if compiled is not predictor:
            bench.floor_cell(kind, compiled, "floor-compiled")
        for runtime in args.runtimes:
            for replicas in args.replicas:
                bench_modelyard(bench, kind, refs[kind], predictor, replicas, runtime)
        if "auto" not in args.runtimes:
            bench_constant(bench, kind, max(args.replicas))
        if args.log_cost:
            bench_log_cost(bench, kind, refs[kind], twins[kind], predictor)
        if args.shadow_cost:
            bench_shadow_cost(bench, kind, refs[kind], shadowed[kind], predictor)
        bench_mlflow(bench, kind, refs[kind], predictor)
    print_report(bench)
    print(f"\nafter the runs: {load_average()}")
    disagreeing = [line for line in bench.agreement if f" {AGREEMENT_ROWS}/{AGREEMENT_ROWS} single-row" not in line]
    if bench.errors or disagreeing:
        print("\nERRORS:\n  " + "\n  ".join(bench.errors + disagreeing))
        return 1
    return 0


# --- the report ----------------------------------------------------------------------------------

HEADER = ("model", "runner", "concurrency", "requests", "failed", "req/s", "p50 ms", "p99 ms",
          "server CPU ms/req", "loadgen CPU ms/req", "others' CPU")
LEGEND = """\
requests: completed in the measured window (after the warm-up); req/s = requests / window; p50/p99: latency of
  one request as the generator sees it (send to last byte); (c) is one predict() call on a one-row frame (the
  compiled line: predict_arrays on a one-row float matrix); (d) answers a constant without a model.
failed: non-200 answers and transport errors, warm-up included.
server CPU ms/req: CPU of the server's process tree (for (c): of this process) per request, warm-up included;
  loadgen CPU ms/req: the generator's, on the same 2 cores. others' CPU: cores kept busy by anything else.
(a) is the model's stable URL (its gateway, then the bentoml server); "backend direct" is that server alone. The two
  are measured alternately at each concurrency, low to high, on one deployment."""


def table_rows(cells: list[Cell], models: list[str]) -> list[tuple[str, ...]]:
    def per_request(seconds):
        return "-" if seconds is None else f"{1000 * seconds / max(c.requests_total, 1):.2f}"

    runners = list(RUNNERS.values())
    rows = []
    for c in sorted(cells, key=lambda c: (models.index(c.model), runners.index(c.runner), c.concurrency)):
        rows.append((c.model, c.runner, str(c.concurrency), f"{c.requests:,}", str(c.failed), f"{c.per_s:,.0f}",
                     f"{c.percentile(50):.2f}", f"{c.percentile(99):.2f}", per_request(c.server_cpu_s),
                     per_request(c.loadgen_cpu_s), "-" if c.others_cpu is None else f"{c.others_cpu:.2f}"))
    return rows


def print_report(bench: Bench) -> None:
    args = bench.args
    print(f"\nOnline serving, single-row JSON requests on loopback, {args.warmup:g} s warm-up + {args.seconds:g} s "
          f"per cell; {os.cpu_count()} cores")
    print(format_table(HEADER, table_rows(bench.cells, args.models)))
    print(LEGEND)
    for c in bench.cells:
        if c.others_cpu and c.others_cpu > CONTENDED_CORES:
            print(f"NOTE: {c.model} {c.runner} c={c.concurrency} shared the machine: other processes kept "
                  f"{c.others_cpu:.2f} cores busy")
    for line in bench.agreement:
        print(f"outputs: {line}")
    for line in bench.mirrors:
        print(f"mirrors: {line}")
    print("\nDeploy-to-ready: (a) the deploy_model call, by step; (b) mlflow models serve, launch to /ping 200")
    for kind in args.models:
        timed = bench.deploy_steps.get(kind, {})
        steps = ", ".join(f"{step} {timed[step]:.1f}" for step in DEPLOY_STEPS.values() if step in timed)
        print(f"  {kind}: (a) {bench.ready_s[(kind, 'modelyard')]:.1f} s ({steps}); "
              f"(b) {bench.ready_s[(kind, 'mlflow')]:.1f} s")
    print_targets(bench)


def _cell(bench: Bench, runner: str, concurrency: int) -> Cell | None:
    return next((c for c in bench.cells if c.model == "rf" and c.runner == RUNNERS[runner]
                 and c.concurrency == concurrency), None)


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def print_targets(bench: Bench) -> None:
    ours, theirs = _cell(bench, "modelyard", TARGET_CONCURRENCY), _cell(bench, "mlflow", TARGET_CONCURRENCY)
    print("\nTargets")
    if ours and theirs:
        ratio = ours.per_s / theirs.per_s
        print(f"  RF c={TARGET_CONCURRENCY} throughput (a)/(b): {ours.per_s:,.0f} / {theirs.per_s:,.0f} req/s = "
              f"{ratio:.2f}x (target >= {TARGET_RATIO}x): {_verdict(ratio >= TARGET_RATIO)}")
        p99 = ours.percentile(99)
        print(f"  RF c={TARGET_CONCURRENCY} p99 of (a): {p99:.1f} ms (target < {TARGET_P99_MS:g} ms): "
              f"{_verdict(p99 < TARGET_P99_MS)}")
    else:
        print(f"  RF c={TARGET_CONCURRENCY} throughput (a)/(b): not measured (needs --models rf and "
              f"--concurrency {TARGET_CONCURRENCY})")
        print(f"  RF c={TARGET_CONCURRENCY} p99 of (a): not measured")
    for more in bench.args.replicas[1:]:
        for concurrency in bench.args.concurrency:
            one, many = _cell(bench, "modelyard", concurrency), _cell(bench, f"modelyard-{more}", concurrency)
            if one and many:
                print(f"  RF c={concurrency} {more} replicas beside 1: {many.per_s:,.0f} / {one.per_s:,.0f} req/s = "
                      f"{many.per_s / one.per_s:.2f}x, p99 {many.percentile(99):.1f} / {one.percentile(99):.1f} ms "
                      f"(measured, no target)")
    print_floor_targets(bench)
    native, compiled = _cell(bench, "floor", 1), _cell(bench, "floor-compiled", 1)
    if native and compiled:
        p50 = compiled.percentile(50)
        print(f"  RF in-process one-row predict, compiled (float rows) / native (frame): {p50:.3f} / "
              f"{native.percentile(50):.3f} ms p50 = {native.percentile(50) / p50:.0f}x faster "
              f"(target <= {TARGET_COMPILED_ONE_ROW_MS:g} ms): {_verdict(p50 <= TARGET_COMPILED_ONE_ROW_MS)}")
    elif native:
        print("  RF in-process one-row predict, compiled: no compiled runtime chosen (see the runtime line above)")
    print_log_targets(bench)
    print_shadow_targets(bench)
    worst = max(bench.ready_s[(kind, "modelyard")] for kind in bench.args.models)
    shown = ", ".join(f"{kind} {bench.ready_s[(kind, 'modelyard')]:.1f} s" for kind in bench.args.models)
    print(f"  deploy-to-ready of (a): {shown} (target < {TARGET_READY_S:g} s): {_verdict(worst < TARGET_READY_S)}")


def print_floor_targets(bench: Bench) -> None:
    """The model's URL with the most replicas against the framework's floor with as many workers, and mlflow."""
    many = max(bench.args.replicas)
    ours = "modelyard" if many == 1 else f"modelyard-{many}"
    shown = f"{many} replica{'s' if many > 1 else ''} / floor ({many} worker{'s' if many > 1 else ''})"
    rounds = len([c for c in bench.cells if c.model == "rf" and c.runner == RUNNERS[ours] and c.concurrency == 1])
    if rounds > 1:
        shown += f", {rounds} rounds alternated and pooled"
    one, floor_one = _pooled(bench, ours, 1), _pooled(bench, f"constant-{many}", 1)
    if one and floor_one:
        ratio = one.percentile(50) / floor_one.percentile(50)
        print(f"  RF c=1 p50, {shown}: {one.percentile(50):.2f} / {floor_one.percentile(50):.2f} ms = {ratio:.1f}x "
              f"(target <= {TARGET_FLOOR_P50_RATIO:g}x): {_verdict(ratio <= TARGET_FLOOR_P50_RATIO)}")
        _print_floor_rounds(bench, ours, f"constant-{many}", 1, lambda a, b: f"{a.percentile(50) / b.percentile(50):.2f}x")
    eight = _pooled(bench, ours, TARGET_CONCURRENCY)
    floor_eight = _pooled(bench, f"constant-{many}", TARGET_CONCURRENCY)
    if eight and floor_eight:
        share, p99 = eight.per_s / floor_eight.per_s, eight.percentile(99)
        print(f"  RF c={TARGET_CONCURRENCY} req/s, {shown}: {eight.per_s:,.0f} / {floor_eight.per_s:,.0f} = "
              f"{share:.0%} (target >= {TARGET_FLOOR_SHARE:.0%}): {_verdict(share >= TARGET_FLOOR_SHARE)}; "
              f"p99 {p99:.1f} ms (target <= {TARGET_FLOOR_P99_MS:g} ms): {_verdict(p99 <= TARGET_FLOOR_P99_MS)}")
        _print_floor_rounds(bench, ours, f"constant-{many}", TARGET_CONCURRENCY,
                            lambda a, b: f"{a.per_s / b.per_s:.0%} (p99 {a.percentile(99):.1f} ms)")
    theirs = _cell(bench, "mlflow", TARGET_CONCURRENCY)
    if eight and theirs:
        ratio = eight.per_s / theirs.per_s
        print(f"  RF c={TARGET_CONCURRENCY} req/s, {many} replicas / mlflow models serve: {eight.per_s:,.0f} / "
              f"{theirs.per_s:,.0f} = {ratio:.1f}x (target >= {TARGET_MLFLOW_RATIO:g}x): "
              f"{_verdict(ratio >= TARGET_MLFLOW_RATIO)}")


def _print_floor_rounds(bench: Bench, ours: str, floor: str, concurrency: int, compare) -> None:
    """Each round's figure, ours against the floor measured next to it: the spread says how far one round can be trusted."""
    def cells(runner):
        return [c for c in bench.cells if c.model == "rf" and c.runner == RUNNERS[runner] and c.concurrency == concurrency]

    pairs = list(zip(cells(ours), cells(floor)))
    if len(pairs) > 1:
        print(f"    per round at c={concurrency}: " + ", ".join(compare(a, b) for a, b in pairs))


def _pooled(bench: Bench, runner: str, concurrency: int) -> Cell | None:
    """The RF cells of a runner at a concurrency (one per ``--log-rounds``) as one."""
    cells = [c for c in bench.cells if c.model == "rf" and c.runner == RUNNERS[runner] and c.concurrency == concurrency]
    if not cells:
        return None
    return Cell("rf", RUNNERS[runner], concurrency, [ms for c in cells for ms in c.latencies_ms],
                sum(c.measured_s for c in cells), sum(c.failed for c in cells), sum(c.requests_total for c in cells),
                None, None, None)


def print_log_targets(bench: Bench) -> None:
    """The request log's cost: twin one-replica deployments, logging (the default) and not."""
    on_1, off_1 = _pooled(bench, "log-on", 1), _pooled(bench, "log-off", 1)
    on_8, off_8 = _pooled(bench, "log-on", TARGET_CONCURRENCY), _pooled(bench, "log-off", TARGET_CONCURRENCY)
    if not (on_1 and off_1 and on_8 and off_8):
        print(f"  RF request log on beside off: not measured (needs --log-cost and --concurrency 1,{TARGET_CONCURRENCY})")
        return
    rounds = f" ({bench.args.log_rounds} rounds pooled)" if bench.args.log_rounds > 1 else ""
    loss = 1 - on_8.per_s / off_8.per_s
    print(f"  RF c={TARGET_CONCURRENCY} throughput, request log on / off{rounds}: {on_8.per_s:,.0f} / {off_8.per_s:,.0f} req/s "
          f"= {loss:+.1%} lost (target <= {TARGET_LOG_THROUGHPUT_LOSS:.0%}): {_verdict(loss <= TARGET_LOG_THROUGHPUT_LOSS)}")
    _print_rounds(bench, TARGET_CONCURRENCY)
    added = on_1.percentile(50) - off_1.percentile(50)
    print(f"  RF c=1 p50, request log on / off{rounds}: {on_1.percentile(50):.2f} / {off_1.percentile(50):.2f} ms = "
          f"{added:+.2f} ms (target <= {TARGET_LOG_P50_MS} ms): {_verdict(added <= TARGET_LOG_P50_MS)}")


def print_shadow_targets(bench: Bench) -> None:
    """A shadow challenger's cost to the champion: twin one-replica deployments, one shadowed."""
    on, off = _pooled(bench, "shadow-on", TARGET_CONCURRENCY), _pooled(bench, "shadow-off", TARGET_CONCURRENCY)
    if not (on and off):
        print(f"  RF shadow challenger beside none: not measured (needs --shadow-cost and --concurrency "
              f"{TARGET_CONCURRENCY})")
        return
    rise = on.percentile(99) / off.percentile(99) - 1
    rounds = f" ({bench.args.shadow_rounds} rounds pooled)" if bench.args.shadow_rounds > 1 else ""
    print(f"  RF c={TARGET_CONCURRENCY} p99 of the champion, shadow challenger at 100 % / none{rounds}: "
          f"{on.percentile(99):.1f} / {off.percentile(99):.1f} ms = {rise:+.1%} (target <= "
          f"{TARGET_SHADOW_P99_RISE:+.0%}): {_verdict(rise <= TARGET_SHADOW_P99_RISE)}; throughput "
          f"{on.per_s:,.0f} / {off.per_s:,.0f} req/s; failed {on.failed} / {off.failed} (target 0): "
          f"{_verdict(on.failed == 0)}")


def _print_rounds(bench: Bench, concurrency: int) -> None:
    """Each round's pair beside the pooled figure: a neighbour's load moves both twins of a round
    alike, so the spread of the pairs says how far one run can be trusted; and the server's CPU
    per request, which a busy host moves less than throughput."""
    import statistics

    def cells(runner):
        return [c for c in bench.cells if c.model == "rf" and c.runner == RUNNERS[runner] and c.concurrency == concurrency]

    pairs = list(zip(cells("log-on"), cells("log-off")))
    losses = [1 - on.per_s / off.per_s for on, off in pairs]
    shown = ", ".join(f"{loss:+.1%}" for loss in losses)
    print(f"    per round, lost at c={concurrency}: {shown}; median {statistics.median(losses):+.1%}")

    def cpu_ms(runner):
        known = [c for c in cells(runner) if c.server_cpu_s is not None]
        return 1000 * sum(c.server_cpu_s for c in known) / max(sum(c.requests_total for c in known), 1)

    on, off = cpu_ms("log-on"), cpu_ms("log-off")
    print(f"    server CPU per request at c={concurrency}, on / off: {on:.3f} / {off:.3f} ms = {on / off - 1:+.1%}")


# --- command line --------------------------------------------------------------------------------

def _int_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("expected positive integers separated by commas")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="rf,lr", help="comma-separated: rf, lr")
    parser.add_argument("--concurrency", type=_int_list, default=[1, 8, 32],
                        help="comma-separated numbers of concurrent workers in the load generator")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each cell")
    parser.add_argument("--replicas", type=_int_list, default=[1, 2],
                        help=f"comma-separated numbers of replicas to deploy (a) with, one deployment each; the first "
                             f"is 1 (at most {MAX_REPLICAS})")
    parser.add_argument("--log-cost", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the request log's cost: twin deployments, log on and off")
    parser.add_argument("--log-rounds", type=int, default=1,
                        help="cells of each of the twins per concurrency, alternated and pooled for the target")
    parser.add_argument("--shadow-cost", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure a shadow challenger's cost: twin deployments, one shadowed at 100 %%")
    parser.add_argument("--shadow-rounds", type=int, default=1,
                        help="cells of each of the shadow twins per concurrency, alternated and pooled")
    parser.add_argument("--floor-rounds", type=int, default=3,
                        help="cells of the deployment with the most replicas and of the floor (d) per concurrency, "
                             "alternated and pooled for the floor targets")
    parser.add_argument("--runtimes", type=lambda text: [part for part in text.split(",") if part], default=["auto"],
                        help="comma-separated: auto (the deploy's choice), native (--runtime native)")
    parser.add_argument("--train-rows", type=int, default=200_000, help="rows the models are trained on")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="folder for the throwaway home and logs (a temporary folder is made inside it)")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway home, models and logs")
    parser.add_argument("--child-load", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.models = [kind.strip() for kind in args.models.split(",") if kind.strip()]
    unknown = set(args.models) - set(MODEL_KINDS)
    if unknown or not args.models:
        parser.error(f"unknown model kinds: {', '.join(sorted(unknown))} (choose from rf, lr)")
    if args.replicas[0] != 1 or max(args.replicas) > MAX_REPLICAS:
        parser.error(f"--replicas starts with 1 (the baseline) and stays at most {MAX_REPLICAS}")
    return args


def _source_state() -> str:
    """The commit measured, and whether the served code differs from it (deploy copies the work tree)."""
    def git(*command):
        return subprocess.run(["git", *command], cwd=REPO, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    if not commit:
        return f"{REPO} is not a git checkout"
    from bento_services.bento_build import CODE_PACKAGES

    dirty = git("status", "--porcelain", "--", *CODE_PACKAGES)
    return f"commit {commit}" + (
        f"; uncommitted changes in the served code: {' '.join(line[3:] for line in dirty.splitlines())}"
        if dirty else "; served code as committed")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_load:
        run_load_child(args.child_load, args.child_result)
        return 0
    parent = (args.workdir or Path(tempfile.gettempdir())).resolve()
    with throwaway_workdir(parent, "modelyard-online-bench-", keep=args.keep) as work:
        print(_source_state(), flush=True)
        return run_benchmark(args, work)


if __name__ == "__main__":
    sys.exit(main())
