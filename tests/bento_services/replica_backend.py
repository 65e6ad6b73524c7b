"""A stand-in model replica for the gateway's tests: real HTTP on loopback, its name in every answer.

    python -m tests.bento_services.replica_backend --port P --name a

``POST /predict`` answers ``{"replica": name, "bytes": len(body), "request_id": its x-request-id}`` (400 for a body of ``bad``),
``GET /readyz`` 200 unless the file ``--not-ready`` names exists, ``GET /hits`` how many
requests it answered. While the file ``--cut`` names exists, it answers ``/predict`` with the
first bytes of a body and drops the connection, as a server killed mid-answer does.
``--status 500`` answers ``/predict`` with that status, ``--delay 2`` after that many seconds;
``GET /seen`` lists the ``/predict`` requests it answered, ``{"request_id", "shadow"}`` each (a
gateway's copy carries ``x-modelyard-shadow: 1``), and ``GET /metadata`` answers its name.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from aiohttp import web


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--not-ready", type=Path)
    parser.add_argument("--cut", type=Path)
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    hits, seen = {"count": 0}, []

    async def predict(request: web.Request) -> web.Response:
        body = await request.read()
        hits["count"] += 1
        if args.cut and args.cut.exists():
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = 100
            await response.prepare(request)
            await response.write(b'{"replica": ')
            request.transport.close()
            return response
        if args.delay:
            await asyncio.sleep(args.delay)
        seen.append({"request_id": request.headers.get("x-request-id"),
                     "shadow": request.headers.get("x-modelyard-shadow") == "1"})
        if body == b"bad":
            return web.json_response({"error": "bad input"}, status=400)
        return web.json_response({"replica": args.name, "bytes": len(body),
                                  "request_id": request.headers.get("x-request-id")}, status=args.status)

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(status=503 if args.not_ready and args.not_ready.exists() else 200)

    async def count(_: web.Request) -> web.Response:
        return web.json_response(hits)

    async def answered(_: web.Request) -> web.Response:
        return web.json_response(seen)

    async def metadata(_: web.Request) -> web.Response:
        return web.json_response({"replica": args.name})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/predict", predict)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/hits", count)
    app.router.add_get("/seen", answered)
    app.router.add_get("/metadata", metadata)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
