"""Waiting for something to become true, network errors retried meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import httpx
import tenacity

T = TypeVar("T")


def poll(check: Callable[[], T | None], *, timeout: float, interval: float = 1.0) -> T | None:
    """Call ``check`` until it returns a value or ``timeout`` passes (then None); retry network errors."""
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_result(lambda result: result is None)
        | tenacity.retry_if_exception_type(httpx.TransportError),
        retry_error_callback=lambda _state: None,
    )
    return retrying(check)
