"""A model's stable endpoint: a small reverse proxy in front of whichever server is current.

Each deployed model gets one gateway process on its own port (its URL never changes) that
forwards every request, path and body untouched, to the model's current ``bentoml serve``
backend. A deploy or rollback starts the new backend on a spare port, checks it, rewrites the
gateway's route file and sends it SIGHUP: new requests go to the new backend at once, requests
already in flight finish on the old one, and ``GET /-/gateway`` reports how many are still in
flight per backend so the old server is stopped only when it has none. That is how a version
switch under load loses no requests, which rebinding one port (SO_REUSEPORT) cannot promise:
connections queued on a closing listener are reset.

aiohttp (already installed with BentoML) does the HTTP on both sides; bodies are streamed, so
the backend's own size limit and error messages reach the client unchanged.

    python -m bento_services.gateway --port 3100 --routes <home>/deployments/<name>/route.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections import Counter
from pathlib import Path

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

STATUS_PATH = "/-/gateway"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length"}
TIMEOUT = ClientTimeout(total=120, sock_connect=5)


def read_route(path: Path) -> dict:
    """``{"upstream": "http://127.0.0.1:<port>", "model_name", "model_version", "deployment_id"}``."""
    return json.loads(Path(path).read_text())


def write_route(path: Path, route: dict) -> None:
    """Replace the route file in one rename, so the gateway never reads half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(json.dumps(route))
    staging.replace(path)


class Gateway:
    def __init__(self, routes: Path):
        self.routes = routes
        self.route = read_route(routes)
        self.in_flight: Counter[str] = Counter()
        self.sessions: dict[str, ClientSession] = {}

    def reload(self) -> None:
        """SIGHUP: read the route file again; a broken file keeps the current route."""
        try:
            self.route = read_route(self.routes)
        except (OSError, ValueError) as error:
            print(f"gateway: kept route {self.route}: cannot read {self.routes}: {error}", flush=True)
            return
        print(f"gateway: now forwarding to {self.route['upstream']}", flush=True)
        self._close_idle_sessions()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == STATUS_PATH:
            return web.json_response({**self.route, "in_flight": dict(self.in_flight)})
        upstream = self.route["upstream"]
        self.in_flight[upstream] += 1  # no await since reading the route: the count is exact
        try:
            return await self._forward(request, upstream)
        finally:
            self.in_flight[upstream] -= 1
            if not self.in_flight[upstream]:
                del self.in_flight[upstream]
                self._close_idle_sessions()

    async def _forward(self, request: web.Request, upstream: str) -> web.StreamResponse:
        headers = {key: value for key, value in request.headers.items() if key.lower() not in HOP_BY_HOP}
        session = self._session(upstream)
        data = request.content if request.body_exists else None
        try:
            async with session.request(request.method, upstream + request.rel_url.raw_path_qs, headers=headers,
                                       data=data, allow_redirects=False) as answer:
                body = await answer.read()
                kept = {key: value for key, value in answer.headers.items() if key.lower() not in HOP_BY_HOP}
                return web.Response(status=answer.status, body=body, headers=kept)
        except (ClientError, asyncio.TimeoutError) as error:
            return web.json_response({"error": f"the model server at {upstream} did not answer: "
                                               f"{type(error).__name__}: {error}"}, status=502)

    def _session(self, upstream: str) -> ClientSession:
        if upstream not in self.sessions:
            self.sessions[upstream] = ClientSession(connector=TCPConnector(limit=0), timeout=TIMEOUT,
                                                    auto_decompress=False)
        return self.sessions[upstream]

    def _close_idle_sessions(self) -> None:
        """Drop connection pools to former backends once nothing is in flight to them."""
        for upstream in [name for name in self.sessions if name != self.route["upstream"]]:
            if not self.in_flight.get(upstream):
                asyncio.get_running_loop().create_task(self.sessions.pop(upstream).close())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--routes", type=Path, required=True)
    args = parser.parse_args(argv)
    import uvloop  # installed with uvicorn; the proxy is event-loop bound

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    gateway = Gateway(args.routes)

    async def on_startup(_: web.Application) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, gateway.reload)

    async def on_cleanup(_: web.Application) -> None:
        await asyncio.gather(*(session.close() for session in gateway.sessions.values()))

    app = web.Application()  # bodies are streamed through, so the backend's own size limit applies
    app.router.add_route("*", "/{tail:.*}", gateway.handle)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    print(f"gateway: http://{args.host}:{args.port} -> {gateway.route['upstream']}", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None,
                shutdown_timeout=30.0, reuse_address=True, loop=loop)


if __name__ == "__main__":
    main()
