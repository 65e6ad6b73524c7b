"""The gateway's hop (``bento_services.upstream``) against real servers on loopback: kept
connections, answers of every framing, and each way a server can fail to answer.

The well-behaved server is aiohttp's; the misbehaving ones are a few lines of asyncio that write
exactly the bytes a test names, since no real server closes mid-answer on request.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from bento_services.upstream import Gone, Upstream

pytestmark = pytest.mark.timeout(60)


def _run(coroutine):
    return asyncio.run(coroutine)


async def _aiohttp_server(handler, **kwargs) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, **kwargs)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


async def _raw_server(answer: bytes, *, close: bool = True) -> tuple[asyncio.Server, str, list[bytes]]:
    """A server that reads one request head and writes ``answer`` as it is, then closes (or not)."""
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(answer)
        await writer.drain()
        if close:
            writer.close()
        else:
            await asyncio.sleep(30)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", requests


def test_answers_come_whole_on_one_kept_connection_with_headers_and_body_untouched():
    async def scenario():
        peers = []

        async def echo(request: web.Request) -> web.Response:
            peers.append(request.transport.get_extra_info("peername"))
            return web.json_response({"body": (await request.read()).decode(), "path": request.path_qs,
                                      "header": request.headers.get("x-test")}, headers={"x-answer": "yes"})

        runner, url = await _aiohttp_server(echo)
        upstream = Upstream(url)
        try:
            answers = [await upstream.request("POST", f"/predict?n={n}", [("x-test", "é")], b'{"a": 1}',
                                              timeout=5, connect_timeout=1) for n in range(3)]
            empty = await upstream.request("POST", "/predict", [], None, timeout=5, connect_timeout=1)
        finally:
            upstream.close()
            await runner.cleanup()
        return answers, empty, peers

    answers, empty, peers = _run(scenario())
    assert [json.loads(a.body) for a in answers] == [
        {"body": '{"a": 1}', "path": f"/predict?n={n}", "header": "é"} for n in range(3)]
    assert all(a.status == 200 and ("x-answer", "yes") in a.headers for a in answers)
    assert json.loads(empty.body)["body"] == ""
    assert len(set(peers)) == 1  # every request went on the one kept connection


def test_a_chunked_answer_and_a_head_answer_read_right():
    async def scenario():
        async def chunked(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"x-kind": "chunked"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for part in (b"one,", b"two,", b"three"):
                await response.write(part)
            await response.write_eof()
            return response

        runner, url = await _aiohttp_server(chunked)
        upstream = Upstream(url)
        try:
            streamed = await upstream.request("GET", "/", [], None, timeout=5, connect_timeout=1)
            head = await upstream.request("HEAD", "/", [], None, timeout=5, connect_timeout=1)
            after = await upstream.request("GET", "/", [], None, timeout=5, connect_timeout=1)
        finally:
            upstream.close()
            await runner.cleanup()
        return streamed, head, after

    streamed, head, after = _run(scenario())
    assert streamed.body == b"one,two,three" and after.body == b"one,two,three"
    assert head.status == 200 and head.body == b""


def test_an_answer_without_a_length_ends_with_its_connection():
    async def scenario():
        server, url, _ = await _raw_server(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        async with server:
            upstream = Upstream(url)
            return await upstream.request("GET", "/", [], None, timeout=5, connect_timeout=1)

    answer = _run(scenario())
    assert (answer.status, answer.body) == (200, b"all of it")


def test_an_answer_cut_off_is_gone_and_so_is_a_refused_connection():
    async def scenario():
        server, url, _ = await _raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\": ")
        async with server:
            with pytest.raises(Gone, match="closed the connection before the whole answer"):
                await Upstream(url).request("POST", "/predict", [], b"{}", timeout=5, connect_timeout=1)
        with pytest.raises(Gone, match="cannot connect to"):
            await Upstream(url).request("POST", "/predict", [], b"{}", timeout=5, connect_timeout=1)

    _run(scenario())


def test_a_kept_connection_the_server_closed_while_idle_is_replaced_without_an_error():
    async def scenario():
        async def hello(_: web.Request) -> web.Response:
            return web.Response(text="hi")

        runner, url = await _aiohttp_server(hello, keepalive_timeout=0.2)  # the server drops idle connections
        upstream = Upstream(url)
        try:
            first = await upstream.request("GET", "/", [], None, timeout=5, connect_timeout=1)
            await asyncio.sleep(0.5)
            second = await upstream.request("GET", "/", [], None, timeout=5, connect_timeout=1)
        finally:
            upstream.close()
            await runner.cleanup()
        return first, second

    first, second = _run(scenario())
    assert first.body == second.body == b"hi"


def test_a_slow_answer_times_out_and_its_connection_is_never_reused():
    async def scenario():
        server, url, requests = await _raw_server(b"", close=False)  # reads the request, never answers
        async with server:
            upstream = Upstream(url)
            with pytest.raises(TimeoutError):
                await upstream.request("POST", "/predict", [("x-request-id", "abc")], b"{}", timeout=0.3,
                                       connect_timeout=1)
            return upstream.idle, requests

    idle, requests = _run(scenario())
    assert idle == []
    assert requests[0].startswith(b"POST /predict HTTP/1.1\r\n") and b"x-request-id: abc\r\n" in requests[0]
    assert b"Content-Length: 2\r\n" in requests[0]


def test_an_answer_that_is_not_http_is_gone():
    async def scenario():
        server, url, _ = await _raw_server(b"SSH-2.0-OpenSSH\r\n\r\n")
        async with server:
            with pytest.raises(Gone, match="not HTTP"):
                await Upstream(url).request("GET", "/", [], None, timeout=5, connect_timeout=1)

    _run(scenario())
