"""Servers on this machine, asked over HTTP on loopback: their URL, whether they are ready, what
they report. Every server Modelyard starts binds to loopback; only its gateway's public URL may
differ (``bento_services.endpoints``)."""

from __future__ import annotations

from typing import Any

import httpx

LOOPBACK = "127.0.0.1"
PROBE_TIMEOUT = 2.0  # a live local server answers in milliseconds; a stalled one must not hold a page


def local_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


def is_ready(port: int, *, path: str = "/readyz", timeout: float = PROBE_TIMEOUT) -> bool:
    """The server answers ``path`` with 200 (BentoML's readiness); refused or timed out: not ready."""
    try:
        return httpx.get(f"{local_url(port)}{path}", timeout=timeout).status_code == 200
    except httpx.TransportError:
        return False


def get_json(port: int, path: str, *, timeout: float = PROBE_TIMEOUT) -> Any:
    """What the server reports at ``path``; its errors (``httpx.HTTPError``, ``ValueError``) are the caller's."""
    return httpx.get(f"{local_url(port)}{path}", timeout=timeout).json()
