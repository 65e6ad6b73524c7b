"""A model's stable endpoint: a small reverse proxy in front of the replicas of its current version.

Each deployed model gets one gateway on its own port (its URL never changes) that forwards every
request, path and body untouched, to one of the model's ``bentoml serve`` replicas (the least busy). The
gateway is a gunicorn master holding the port and ``--workers`` aiohttp worker processes
(``bento_services.gateway_workers``): SIGKILL of a worker loses only its connections (the requests
it was answering, the next one on a connection a client kept alive), and the master starts another. A deploy or rollback starts the new replicas on spare
ports, checks them, rewrites the gateway's route file and sends the master SIGHUP, which every
worker gets: new requests go to the new replicas at once, requests already in flight finish on the
old ones, and ``GET /-/gateway`` reports how many are still in flight per backend, summed over the
workers, and whether every worker has switched, so an old server is stopped only when it has none.
That is how a version switch under load loses no requests, which rebinding one port (SO_REUSEPORT)
cannot promise: connections queued on a closing listener are reset.

Failover, as KServe's and SageMaker's routers do it:
- a request whose replica refuses the connection or drops it before answering is sent once more
  to another replica (predictions are idempotent); an answer, whatever its status, is passed on
  and never retried, and neither is a request that timed out (the replica may be working on it);
- every ``PROBE_INTERVAL`` seconds each replica's ``/readyz`` is asked; one that fails it, or
  failed a request by its connection, leaves the rotation (of every worker) until it answers
  again. With no replica in rotation, all of them are tried rather than none.
To be sent twice a body is read first, up to ``MAX_BUFFERED_BODY`` (the serving limit); a bigger
or unsized one is streamed to one replica, whose own size limit and message reach the client.

Every request carries an ``x-request-id`` to the replica (the client's, else a new uuid4 hex) and
back in the answer, so a client can find its request in the request log. The gateway counts what it
answers: ``GET /metrics`` (Prometheus, every worker's counts summed, a dead worker's kept: requests
by version and status, errors, a latency histogram by version, requests in flight), and
``/-/gateway`` carries the traffic of the last ``TRAFFIC_WINDOW`` seconds over the live workers
(requests/min, error rate, p50/p99 ms to 0.01 ms) and the totals since the gateway started. An
error is an answer of status 500 or more (the gateway's own 502 included); health checks through it (``/readyz``, ``/livez``) are forwarded but not counted.

A route may name a challenger: a second version behind the same URL, for its scoring requests
only (POST ``/predict``, ``/invocations``, ``/v2/models/.../infer``). A stable hash of each
request's key (a sticky header's value, else its request id) puts a ``percent`` of them in its
slice (``bento_services.challenger_routing``). In ``shadow`` mode the champion answers every client
and a copy of each request in the slice goes to the challenger in the background; in ``canary``
mode the challenger answers its slice (the champion does when it is gone) and the champion gets
the copy, so both versions' answers exist. A copy carries ``x-modelyard-shadow: 1``; its answer
is only counted, it never delays or fails the client's. Copies wait in a queue that a few lanes
send in order (``bento_services.mirror_queue``), so a challenger in the background CPU class
catches up when the load eases; over ``max_queued`` copies, more are dropped. ``/-/gateway``'s
``challenger`` has the counts, reset when the challenge changes; ``/metrics`` counts client
answers by the version that gave them, and copies by outcome (``modelyard_gateway_mirrors``).

aiohttp (already installed with BentoML) serves the clients; the hop to a replica goes on kept
connections of ``bento_services.upstream`` (a tenth of aiohttp's client's CPU), except a body
streamed from the client, which aiohttp's client sends on.

    python -m bento_services.gateway --port 3100 --workers 2 --routes <home>/deployments/<name>/route.json
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import signal
import time
import uuid
from collections import Counter, deque
from pathlib import Path

from aiohttp import (
    ClientConnectorError, ClientError, ClientOSError, ClientPayloadError, ClientSession, ClientTimeout,
    ServerDisconnectedError, TCPConnector, web,
)

from bento_services.challenger_routing import (
    MIRROR_COUNTS, SHADOW_HEADER, Challenge, follow, is_scoring, latency_counts, merge_challenges, percentiles,
    read_challenger,
)
from bento_services.gateway_workers import SharedPage, gather_snapshots, serve, serve_peers
from bento_services.upstream import Gone, Upstream
from registry.request_logs import REQUEST_ID_HEADER

STATUS_PATH = "/-/gateway"
METRICS_PATH = "/metrics"
NOT_COUNTED = {"/readyz", "/livez", "/healthz"}
TRAFFIC_WINDOW = 60.0
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length",
              "expect"}  # the gateway answered the client's 100-continue; the replica gets the body at once
NOT_FORWARDED = HOP_BY_HOP | {REQUEST_ID_HEADER, SHADOW_HEADER}  # the gateway sets these itself
NOT_PASSED_ON = HOP_BY_HOP | {REQUEST_ID_HEADER}
TIMEOUT_SECONDS, CONNECT_SECONDS = 120.0, 5.0
GRACEFUL_TIMEOUT = 125  # a worker told to stop first finishes what it answers (up to TIMEOUT_SECONDS)
WORKERS = 2  # deployments pass MODELYARD_GATEWAY_WORKERS
MIRROR_TIMEOUT_SECONDS = 30.0  # a copy nobody waits for gives up sooner
PROBE_TIMEOUT = ClientTimeout(total=1.0)
PROBE_INTERVAL = 1.0
MAX_BUFFERED_BODY = 16 * 1024 * 1024
# No whole answer came (refused, reset, or cut off mid-body by a replica that died while answering);
# the gateway passes on only whole answers, so the client saw nothing: safe to send again.
GONE = (Gone, ClientConnectorError, ServerDisconnectedError, ClientOSError, ClientPayloadError)


def state_folder(routes: Path) -> Path:
    """What a gateway's workers share on disk (their Prometheus values, the rotation's lock), beside its route."""
    return routes.with_name("gateway-state")


def read_route(path: Path) -> dict:
    """``{"upstreams": ["http://127.0.0.1:<port>", ...], "model_name", "model_version", "deployment_id",
    "challenger": None | {"upstreams", "model_version", "deployment_id", "challenge_id", "mode", "percent",
    "sticky_header", "max_queued"}}``; a file of one ``upstream`` (before replicas) reads as a list of one."""
    route = json.loads(Path(path).read_text())
    if "upstreams" not in route:
        route["upstreams"] = [route.pop("upstream")]
    if not route["upstreams"]:
        raise ValueError("a route needs at least one upstream")
    route["challenger"] = read_challenger(route.get("challenger"))
    return route


def write_route(path: Path, route: dict) -> None:
    """Replace the route file in one rename, so the gateway never reads half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(json.dumps(route))
    staging.replace(path)


class Traffic:
    """What a worker answered: Prometheus metrics (in ``PROMETHEUS_MULTIPROC_DIR``, summed over the
    workers) and the last ``TRAFFIC_WINDOW`` seconds of answers (time, latency, error).

    Each value in multiprocess mode is a locked write to a mapped file, so a request touches as
    few as it can: the labelled children are kept, and the in-flight gauge is set from a plain
    count when the probe loop ticks (``PROBE_INTERVAL``) and before each scrape, not twice a request."""

    def __init__(self, since: float, window: float = TRAFFIC_WINDOW):
        import prometheus_client as prom

        self.registry = prom.CollectorRegistry()
        self.requests = prom.Counter("modelyard_gateway_requests", "Requests answered, by model version and status",
                                     ["version", "status"], registry=self.registry)
        self.errors = prom.Counter("modelyard_gateway_errors", "Answers of status 500 or more, by model version",
                                   ["version"], registry=self.registry)
        self.latency = prom.Histogram("modelyard_gateway_request_duration_seconds",
                                      "Time from the request to the whole answer, by model version", ["version"],
                                      buckets=LATENCY_BUCKETS, registry=self.registry)
        self.in_flight = prom.Gauge("modelyard_gateway_requests_in_flight", "Requests being answered",
                                    multiprocess_mode="livesum", registry=self.registry)
        self.mirrors = prom.Counter("modelyard_gateway_mirrors", "Copies of requests for the other version of a "
                                    "challenge, by the version they were for and how they ended",
                                    ["version", "outcome"], registry=self.registry)
        self.window, self.recent = window, deque()  # (monotonic time, latency ms, error)
        self.since = since
        self.serving = 0  # requests being answered, which ``in_flight`` reports
        self._counted: dict[tuple[str, int], tuple] = {}  # (version, status) -> its children

    def observe(self, version: str, status: int, seconds: float) -> None:
        error = status >= 500
        children = self._counted.get((version, status))
        if children is None:
            children = self._counted[(version, status)] = (
                self.requests.labels(version, str(status)), self.latency.labels(version),
                self.errors.labels(version) if error else None)
        requests, latency, errors = children
        requests.inc()
        latency.observe(seconds)
        if errors is not None:
            errors.inc()
        now = time.monotonic()
        self.recent.append((now, seconds * 1000.0, error))
        self._forget(now)

    def snapshot(self) -> dict:
        """This worker's window, as ``summary`` merges it with the others'."""
        self._forget(time.monotonic())
        return {"latencies": latency_counts(ms for _, ms, _ in self.recent),
                "errors": sum(error for _, _, error in self.recent)}

    def summary(self, snapshots: list[dict]) -> dict:
        """The workers' windows merged and the totals since the gateway started, as ``/-/gateway`` reports them."""
        count, errors = sum(n for one in snapshots for _, n in one["latencies"]), sum(one["errors"] for one in snapshots)
        p50, p99 = percentiles([one["latencies"] for one in snapshots], (0.50, 0.99))
        totals = self._totals()
        return {
            "window_seconds": self.window, "requests": count, "errors": errors,
            "requests_per_minute": count * 60.0 / self.window, "error_rate": errors / count if count else None,
            "p50_ms": p50, "p99_ms": p99, "since": self.since,
            "total_requests": int(totals.get("modelyard_gateway_requests_total", 0)),
            "total_errors": int(totals.get("modelyard_gateway_errors_total", 0)),
        }

    def report_in_flight(self) -> None:
        self.in_flight.set(self.serving)

    def exposition(self) -> bytes:
        import prometheus_client as prom

        self.report_in_flight()
        return prom.generate_latest(_every_worker())

    def _totals(self) -> Counter[str]:
        """Each sample name's sum over its labels and every worker (a dead one's counts included)."""
        totals: Counter[str] = Counter()
        for family in _every_worker().collect():
            for sample in family.samples:
                totals[sample.name] += sample.value
        return totals

    def _forget(self, now: float) -> None:
        while self.recent and self.recent[0][0] < now - self.window:
            self.recent.popleft()


def _every_worker():
    """A registry of the gateway's metrics summed over its workers' files (``PROMETHEUS_MULTIPROC_DIR``)."""
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


class Gateway:
    """One worker's proxy; the turn and the rotation are shared with the other workers (``shared``)."""

    def __init__(self, routes: Path, shared: SharedPage, since: float):
        self.routes, self.shared = routes, shared
        self.route, self.route_read = read_route(routes), time.time()
        self.slot = shared.claim_slot(os.getpid())  # the replica it prefers on a tie: the slot-th, in turn
        self.challenge = follow(None, self.route["challenger"], self.version)
        self.in_flight: Counter[str] = Counter()  # client requests and mirrors, by upstream
        self.retried = 0
        self.traffic = Traffic(since)
        self.pools: dict[str, Upstream] = {}  # kept connections, by replica
        self.streaming: ClientSession | None = None  # for bodies streamed from the client
        self.retired: list[Challenge] = []  # ended challenges whose queued copies are still being sent

    @property
    def upstreams(self) -> list[str]:
        return self.route["upstreams"]

    @property
    def version(self) -> str:
        return str(self.route.get("model_version", ""))

    @property
    def out_of_rotation(self) -> dict[str, str]:
        """Replica -> why it gets no traffic, in every worker."""
        return self.shared.out_of_rotation

    @property
    def all_upstreams(self) -> list[str]:
        """The champion's replicas and the challenger's: probed, and their connections kept."""
        return self.upstreams + (self.challenge.upstreams if self.challenge else [])

    def reload(self) -> None:
        """SIGHUP: read the route file again; a broken file keeps the current route. New
        replicas start in rotation: a deploy sends traffic only to replicas it checked."""
        try:
            self.route, self.route_read = read_route(self.routes), time.time()
        except (OSError, ValueError, KeyError) as error:
            print(f"gateway {os.getpid()}: kept route {self.upstreams}: cannot read {self.routes}: {error}", flush=True)
            return
        before, self.challenge = self.challenge, follow(self.challenge, self.route["challenger"], self.version)
        if before is not None and before is not self.challenge:
            self.retired = [old for old in self.retired if old.mirrors.pending] + [before]
        self.shared.keep_only(self.all_upstreams)
        print(f"gateway {os.getpid()}: now forwarding to {self.destinations()}", flush=True)
        self._close_idle_pools()

    def destinations(self) -> str:
        challenger = self.challenge and f"; challenger ({self.challenge.mode}) {', '.join(self.challenge.upstreams)}"
        return ", ".join(self.upstreams) + (challenger or "")

    def snapshot(self) -> dict:
        """This worker's state, as ``status`` sums it with the other workers'."""
        return {"pid": os.getpid(), "route": self.route, "route_read": self.route_read,
                "in_flight": dict(self.in_flight), "retried": self.retried, "traffic": self.traffic.snapshot(),
                "challenge": self.challenge.snapshot() if self.challenge else None}

    async def status(self) -> dict:
        """The whole gateway, whichever worker answers: requests in flight and counts summed over the
        workers. Until every worker has switched (``workers_agree``) the route is the one read
        first, which some worker still forwards to."""
        snapshots, unreachable = await gather_snapshots(self.snapshot())
        route = min(snapshots, key=lambda one: one["route_read"])["route"]
        section = route["challenger"]
        challenger = None
        if section is not None:
            same = [one["challenge"] for one in snapshots
                    if one["challenge"] and one["challenge"]["challenge_id"] == section["challenge_id"]]
            challenger = merge_challenges(section, same, self._rotation(section["upstreams"]))
        in_flight: Counter[str] = Counter()
        for one in snapshots:
            in_flight.update(one["in_flight"])
        named = route["upstreams"] + (section["upstreams"] if section else [])
        return {**route, "in_rotation": self._rotation(route["upstreams"]),
                "out_of_rotation": {u: why for u, why in self.out_of_rotation.items() if u in named},
                "in_flight": {u: n for u, n in in_flight.items() if n}, "retried": sum(one["retried"] for one in snapshots),
                "traffic": self.traffic.summary([one["traffic"] for one in snapshots]), "challenger": challenger,
                "workers": {one["pid"]: {"upstreams": one["route"]["upstreams"], "in_flight": one["in_flight"]}
                            for one in snapshots},
                "workers_agree": not unreachable and all(one["route"] == route for one in snapshots),
                "unreachable_workers": unreachable, "answered_by": os.getpid()}

    def pick(self, tried: set[str]) -> str | None:
        """Of the replicas in rotation not tried yet for this request (else of any not tried), the one
        with the fewest of this worker's requests in flight; on a tie this worker's own replica (the
        ``slot``-th of the route), then the ones after it. A lone caller's requests go to one warm
        replica: taking turns, each replica's process sat idle between its requests and paid about
        twice the CPU per request (a RandomForest at c=1 behind 2 replicas: 2.2 ms against 1.0 ms,
        p50 2.4-3.0 ms against 1.3 ms). Callers on different workers start on different replicas,
        and each worker spreads its own callers when they overlap."""
        fresh = [u for u in self.upstreams if u not in tried]
        candidates = [u for u in fresh if u not in self.out_of_rotation] or fresh
        if not candidates:
            return None
        count = len(self.upstreams)
        order = {upstream: (index - self.slot) % count for index, upstream in enumerate(self.upstreams)}
        return min(candidates, key=lambda upstream: (self.in_flight.get(upstream, 0), order.get(upstream, 0)))

    def take_out(self, upstream: str, why: str) -> None:
        if upstream in self.all_upstreams and upstream not in self.out_of_rotation:
            print(f"gateway {os.getpid()}: {upstream} out of rotation: {why}", flush=True)
        if upstream not in self.out_of_rotation:  # the first reason is kept: it says what happened
            self.shared.change(upstream, why)

    def put_back(self, upstream: str) -> None:
        if upstream in self.out_of_rotation and self.shared.change(upstream, None):
            print(f"gateway {os.getpid()}: {upstream} back in rotation", flush=True)

    def _rotation(self, upstreams: list[str]) -> list[str]:
        return [u for u in upstreams if u not in self.out_of_rotation]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == STATUS_PATH:
            return web.json_response(await self.status())
        if request.path == METRICS_PATH:
            return web.Response(body=self.traffic.exposition(), headers={"Content-Type": METRICS_CONTENT_TYPE})
        request_id = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        counted = request.path not in NOT_COUNTED
        challenge = self.challenge if is_scoring(request.method, request.path) else None
        started = time.perf_counter()
        self.traffic.serving += counted
        try:
            answer, version = await self._answer(request, request_id, challenge)
        finally:
            self.traffic.serving -= counted
        answer.headers[REQUEST_ID_HEADER] = request_id
        seconds = time.perf_counter() - started
        if counted:
            self.traffic.observe(version, answer.status, seconds)
        if challenge is not None:
            challenge.observe(version, answer.status, seconds)
        return answer

    async def _answer(self, request: web.Request, request_id: str,
                      challenge: Challenge | None) -> tuple[web.StreamResponse, str]:
        """The answer, and the version that gave it."""
        version = self.version
        chosen = challenge is not None and challenge.takes(request.headers, request_id)
        sized = request.content_length is not None and request.content_length <= MAX_BUFFERED_BODY
        if request.body_exists and not sized:
            if chosen:  # a body that cannot be sent twice stays with the champion
                self._count_mirror(challenge, challenge.version, "skipped")
            return await self._send(request, request_id, self.pick(set()), request.content, retry=False), version
        body = await request.read() if request.body_exists else None
        if chosen and challenge.mode == "canary":
            return await self._canary(request, request_id, body, challenge, version)
        if chosen:  # out of rotation all, still sent a copy: a probe slowed by load must not skip requests
            upstream = challenge.pick(self._rotation(challenge.upstreams) or challenge.upstreams)
            self._mirror(request, request_id, body, upstream, challenge, challenge.version)
        return await self._send(request, request_id, self.pick(set()), body, retry=True), version

    async def _canary(self, request: web.Request, request_id: str, body: bytes | None, challenge: Challenge,
                      champion_version: str) -> tuple[web.StreamResponse, str]:
        """The challenger answers and the champion gets a copy; with the challenger gone, the champion answers."""
        upstream, answer = challenge.pick(self._rotation(challenge.upstreams)), None
        if upstream is not None:
            try:
                answer = await self._attempt(request, request_id, upstream, body)
            except GONE:
                answer = None  # taken out of rotation: fail over to the champion
        if answer is None:
            challenge.count("failed_over")
            return await self._send(request, request_id, self.pick(set()), body, retry=True), champion_version
        challenge.count("answered")
        champion = self.pick(set()) if self._rotation(self.upstreams) else None
        self._mirror(request, request_id, body, champion, challenge, champion_version)
        return answer, challenge.version

    async def _send(self, request: web.Request, request_id: str, upstream: str, data, *,
                    retry: bool) -> web.StreamResponse:
        tried = {upstream}
        while True:
            try:
                return await self._attempt(request, request_id, upstream, data)
            except GONE as error:
                failure = error
            again = self.pick(tried) if retry else None
            if again is None:
                return _bad_gateway(upstream, failure)
            self.retried += 1
            upstream = again
            tried.add(upstream)

    async def _attempt(self, request: web.Request, request_id: str, upstream: str, data) -> web.StreamResponse:
        """One try at one replica: its answer, a 502 when it timed out, or GONE raised (it leaves the rotation)."""
        self.in_flight[upstream] += 1  # no await since picking it: the count is exact
        try:
            return await self._forward(request, request_id, upstream, data)
        except GONE as error:
            self.take_out(upstream, f"{type(error).__name__}: {error}")
            raise
        except (ClientError, asyncio.TimeoutError) as error:
            return _bad_gateway(upstream, error)
        finally:
            self._done(upstream)

    def _done(self, upstream: str) -> None:
        self.in_flight[upstream] -= 1
        if self.in_flight[upstream] <= 0:
            del self.in_flight[upstream]
            if upstream not in self.all_upstreams:  # a former backend, drained
                self._close_idle_pools()

    async def _forward(self, request: web.Request, request_id: str, upstream: str, data) -> web.StreamResponse:
        """``data`` is the body read (bytes or None) or the client's stream, which aiohttp's client sends on."""
        headers = _headers_for(request, request_id)
        if data is None or isinstance(data, bytes):
            answer = await self._pool(upstream).request(request.method, request.rel_url.raw_path_qs, headers.items(),
                                                        data, timeout=TIMEOUT_SECONDS, connect_timeout=CONNECT_SECONDS)
            status, body, answer_headers = answer.status, answer.body, answer.headers
        else:
            async with self._streaming().request(request.method, upstream + request.rel_url.raw_path_qs,
                                                 headers=headers, data=data, allow_redirects=False) as streamed:
                status, body, answer_headers = streamed.status, await streamed.read(), streamed.headers.items()
        kept = [(key, value) for key, value in answer_headers if key.lower() not in NOT_PASSED_ON]
        return web.Response(status=status, body=body, headers=kept)

    def _mirror(self, request: web.Request, request_id: str, body: bytes | None, upstream: str | None,
                challenge: Challenge, version: str) -> None:
        """Queue a copy of the request for ``upstream`` (of ``version``); sent in the background,
        dropped and counted over the queue's bound."""
        if upstream is None:
            self._count_mirror(challenge, version, "skipped")
            return
        headers = {**_headers_for(request, request_id), SHADOW_HEADER: "1"}
        copy = functools.partial(self._send_copy, request.method, upstream, request.rel_url.raw_path_qs, headers,
                                 body, challenge, version)
        if not challenge.mirror(len(body or b""), copy):
            self._count_mirror(challenge, version, "dropped")
            return
        self.in_flight[upstream] += 1  # queued counts: a replica is drained only once its copies are sent

    async def _send_copy(self, method: str, upstream: str, path_qs: str, headers: dict, body: bytes | None,
                         challenge: Challenge, version: str) -> None:
        """A mirror's request, when a lane takes it: its answer read and dropped, only how it ended counted."""
        started = time.perf_counter()
        try:
            status = await self._copy_once(method, upstream, path_qs, headers, body)
        except GONE:  # a kept-alive connection the server had just closed: once more, on a new one
            status = await self._copy_once(method, upstream, path_qs, headers, body, last=True)
        except (ClientError, asyncio.TimeoutError):
            status = None
        finally:
            self._done(upstream)
        if status is not None:
            challenge.observe(version, status, time.perf_counter() - started)
        self._count_mirror(challenge, version, "failed" if status is None else "error" if status >= 500 else "answered")

    async def _copy_once(self, method: str, upstream: str, path_qs: str, headers: dict, body: bytes | None, *,
                         last: bool = False) -> int | None:
        """One try of a mirror: the status it got; GONE raised on the first try, None after the last."""
        try:
            answer = await self._pool(upstream).request(method, path_qs, headers.items(), body,
                                                        timeout=MIRROR_TIMEOUT_SECONDS, connect_timeout=CONNECT_SECONDS)
            return answer.status
        except GONE as error:
            if not last:
                raise
            self.take_out(upstream, f"{type(error).__name__}: {error}")
            return None
        except (ClientError, asyncio.TimeoutError):
            return None

    def _count_mirror(self, challenge: Challenge, version: str, outcome: str) -> None:
        self.traffic.mirrors.labels(version, outcome).inc()
        challenge.count(MIRROR_COUNTS[outcome])

    async def probe_forever(self) -> None:
        """Ask every replica's ``/readyz`` each ``PROBE_INTERVAL``: out of rotation or back in; and
        report this worker's requests in flight."""
        async with ClientSession(timeout=PROBE_TIMEOUT) as session:
            while True:
                self.traffic.report_in_flight()
                await asyncio.gather(*(self._probe(session, upstream) for upstream in self.all_upstreams))
                await asyncio.sleep(PROBE_INTERVAL)

    async def _probe(self, session: ClientSession, upstream: str) -> None:
        try:
            async with session.get(f"{upstream}/readyz") as answer:
                if answer.status == 200:
                    self.put_back(upstream)
                else:
                    self.take_out(upstream, f"/readyz answered {answer.status}")
        except (ClientError, asyncio.TimeoutError) as error:
            self.take_out(upstream, f"/readyz: {type(error).__name__}: {error}")

    def _pool(self, upstream: str) -> Upstream:
        if upstream not in self.pools:
            self.pools[upstream] = Upstream(upstream)
        return self.pools[upstream]

    def _streaming(self) -> ClientSession:
        if self.streaming is None:
            self.streaming = ClientSession(connector=TCPConnector(limit=0), auto_decompress=False,
                                           timeout=ClientTimeout(total=TIMEOUT_SECONDS, sock_connect=CONNECT_SECONDS))
        return self.streaming

    def _close_idle_pools(self) -> None:
        """Drop the kept connections to former backends once nothing is in flight to them."""
        for upstream in [name for name in self.pools if name not in self.all_upstreams]:
            if not self.in_flight.get(upstream):
                self.pools.pop(upstream).close()


def _headers_for(request: web.Request, request_id: str) -> dict[str, str]:
    """The client's headers as a replica gets them: hop-by-hop ones left out, the request id set."""
    headers = {key: value for key, value in request.headers.items() if key.lower() not in NOT_FORWARDED}
    headers[REQUEST_ID_HEADER] = request_id
    return headers


def _bad_gateway(upstream: str, error: BaseException) -> web.Response:
    return web.json_response({"error": f"the model server at {upstream} did not answer: "
                                       f"{type(error).__name__}: {error}"}, status=502)


async def worker_app(routes: Path, since: float, shared: SharedPage) -> web.Application:
    """One worker's application (gunicorn's aiohttp worker runs it): the proxy, a route switch on
    SIGHUP, the readiness probe, and its state for the other workers."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: gateway.reload())  # before the route is read: none is missed
    gateway = Gateway(routes, shared, since)
    peers = await serve_peers(gateway.snapshot)  # before this worker accepts a request

    async def on_startup(app: web.Application) -> None:
        app["probe"] = loop.create_task(gateway.probe_forever())

    async def on_cleanup(app: web.Application) -> None:
        app["probe"].cancel()
        await asyncio.gather(app["probe"], return_exceptions=True)
        peers.close()
        for challenge in [gateway.challenge, *gateway.retired]:  # nobody waits for a copy's answer
            if challenge is not None:
                challenge.mirrors.cancel()
        for pool in gateway.pools.values():
            pool.close()
        if gateway.streaming is not None:
            await gateway.streaming.close()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", gateway.handle)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    print(f"gateway {os.getpid()}: forwarding to {gateway.destinations()}", flush=True)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--routes", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=WORKERS, help="worker processes behind the port")
    parser.add_argument("--state", type=Path, help="the workers' shared files; next to the route file when unset")
    args = parser.parse_args(argv)
    read_route(args.routes)  # a broken route file fails here, before any worker starts
    print(f"gateway: http://{args.host}:{args.port}, {args.workers} workers, route {args.routes}", flush=True)
    serve(functools.partial(worker_app, args.routes, time.time()), host=args.host, port=args.port,
          workers=args.workers, state=args.state or state_folder(args.routes),
          graceful_timeout=GRACEFUL_TIMEOUT)


if __name__ == "__main__":
    main()
