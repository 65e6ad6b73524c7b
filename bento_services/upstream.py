"""The gateway's hop to a model server: kept HTTP/1.1 connections, each answer read whole.

Every request the gateway forwards with a buffered body has one shape: sent to one replica, its
answer read whole and passed on. aiohttp's client spends about 0.23 ms of CPU a request on that
on a 2-core machine, as much as the rest of the hop (``benchmarks/gateway_hop.py``); this spends
a tenth of it on asyncio's transports, with httptools (llhttp, the parser uvicorn uses) reading
the answer. A body streamed from the client (unsized, or over the gateway's buffered limit) still
goes through aiohttp's client.

What the gateway's failover relies on:
- ``Gone`` when no whole answer came: refused, reset, or closed before the answer's last byte.
  A kept connection that the server closed while it was idle is first tried once more on a new
  one, as HTTP clients do: the server closed it before reading the request;
- ``TimeoutError`` when the whole answer took longer than ``timeout``; that connection is closed,
  so a late answer is never read as the next request's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

NO_BODY_STATUSES = {204, 304}


class Gone(ConnectionError):
    """No whole answer came from the model server."""


class _Stale(Exception):
    """A kept connection was closed before any byte of its answer: send on a new one."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class _Connection(asyncio.Protocol):
    """One connection, one request at a time; httptools calls the ``on_*`` methods as the answer arrives."""

    def __init__(self, upstream: Upstream):
        self.upstream = upstream
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.reusable = False
        self.received = False
        self.head_only = False
        self.until_close = False
        self.status, self.headers, self.body = 0, [], []

    def exchange(self, data: bytes, *, head_only: bool) -> asyncio.Future:
        self.waiter = asyncio.get_running_loop().create_future()
        self.received, self.head_only, self.reusable = False, head_only, False
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self.waiter is None or self.waiter.done():
            self.close()  # bytes nobody asked for: the connection's state is unknown
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(Gone(f"{self.upstream.authority} sent an answer that is not HTTP: {error}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.upstream.forget(self)
        if self.waiter is None or self.waiter.done():
            return
        if self.until_close:  # an answer without a length ends with its connection
            self._finish()
        elif not self.received:
            self._fail(_Stale())
        else:
            self._fail(Gone(f"{self.upstream.authority} closed the connection before the whole answer"
                            + (f": {exc}" if exc else "")))

    def on_message_begin(self) -> None:
        self.headers, self.body, self.until_close = [], [], False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.head_only:  # the parser would wait for the body a HEAD answer never has
            self._finish()
            self.close()
            return
        sized = any(name.lower() in ("content-length", "transfer-encoding") for name, _ in self.headers)
        self.until_close = not sized and self.status not in NO_BODY_STATUSES and self.status >= 200

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:  # an interim answer: the real one follows on this connection
            return
        self.until_close = False
        self.reusable = self.parser.should_keep_alive()
        self._finish()

    def _finish(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(Answer(self.status, self.headers, b"".join(self.body)))

    def _fail(self, error: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)


class Upstream:
    """Kept connections to one model server at ``http://host:port``."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port, self.authority = parts.hostname, parts.port or 80, parts.netloc
        self.idle: list[_Connection] = []
        self.open: set[_Connection] = set()

    async def request(self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None, *,
                      timeout: float, connect_timeout: float) -> Answer:
        """Send one request and read its whole answer: ``Gone`` or ``TimeoutError`` otherwise."""
        data = _request_bytes(method, target, self.authority, headers, body)
        async with asyncio.timeout(timeout):
            while self.idle:
                connection = self.idle.pop()
                if connection.transport.is_closing():
                    continue
                try:
                    return await self._exchange(connection, data, method)
                except _Stale:
                    continue
            connection = await self._connect(connect_timeout)
            try:
                return await self._exchange(connection, data, method)
            except _Stale:
                raise Gone(f"{self.authority} closed a new connection without answering") from None

    def forget(self, connection: _Connection) -> None:
        self.open.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)

    def close(self) -> None:
        for connection in list(self.open):
            connection.close()
        self.idle.clear()

    async def _connect(self, connect_timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, connection = await loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except TimeoutError:
            raise Gone(f"cannot connect to {self.authority}: no answer in {connect_timeout:g} s") from None
        except OSError as error:
            raise Gone(f"cannot connect to {self.authority}: {error.strerror or error}") from None
        self.open.add(connection)
        return connection

    async def _exchange(self, connection: _Connection, data: bytes, method: str) -> Answer:
        try:
            answer = await connection.exchange(data, head_only=method == "HEAD")
        except BaseException:  # failed, timed out or cancelled: what is left on the connection is unknown
            connection.close()
            raise
        if connection.reusable and not connection.closed:
            self.idle.append(connection)
        else:
            connection.close()
        return answer


def _request_bytes(method: str, target: str, authority: str, headers: Iterable[tuple[str, str]],
                   body: bytes | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}", *(f"{name}: {value}" for name, value in headers)]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    return head + body if body else head
