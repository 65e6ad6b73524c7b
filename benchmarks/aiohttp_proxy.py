"""The gateway_hop benchmark's baseline: the smallest reverse proxy aiohttp makes, its server and
its client, with nothing of the gateway's (no metrics, failover, request ids, challengers). It is
what the gateway cost at least when its hop went through aiohttp's client.

    python benchmarks/aiohttp_proxy.py --port 3998 --upstream http://127.0.0.1:3999
"""

from __future__ import annotations

import argparse

import uvloop
from aiohttp import ClientSession, TCPConnector, web

DROPPED = {"host", "content-length", "connection", "transfer-encoding"}


async def make_app(upstream: str) -> web.Application:
    session = ClientSession(connector=TCPConnector(limit=0), auto_decompress=False)

    async def forward(request: web.Request) -> web.Response:
        headers = {key: value for key, value in request.headers.items() if key.lower() not in DROPPED}
        async with session.request(request.method, upstream + request.rel_url.raw_path_qs, headers=headers,
                                   data=await request.read(), allow_redirects=False) as answer:
            body = await answer.read()
            kept = [(key, value) for key, value in answer.headers.items() if key.lower() not in DROPPED]
            return web.Response(status=answer.status, body=body, headers=kept)

    async def close(_: web.Application) -> None:
        await session.close()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    app.on_cleanup.append(close)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    uvloop.install()
    web.run_app(make_app(args.upstream), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
