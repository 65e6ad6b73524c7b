"""The request timeout around the model service: BentoML's answer, without its timers outliving requests."""

from __future__ import annotations

import asyncio
import sys

from bentoml._internal.server.http.traffic import TimeoutMiddleware

from bento_services.timeout import CancellingTimeoutMiddleware


async def _call(middleware, path: str = "/predict") -> list[dict]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await middleware({"type": "http", "path": path, "method": "POST", "headers": []}, receive, send)
    return sent


async def _answer(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _timers_pending(middleware_class) -> int:
    async def main():
        middleware = middleware_class(_answer, timeout=60)
        for _ in range(100):
            assert (await _call(middleware))[0]["status"] == 200
        loop = asyncio.get_running_loop()
        return sum(not handle.cancelled() for handle in loop._scheduled)  # noqa: SLF001 (what the loop still holds)

    return asyncio.run(main())


def test_no_timer_outlives_its_answered_request():
    assert _timers_pending(CancellingTimeoutMiddleware) == 0
    assert _timers_pending(TimeoutMiddleware) == 100  # BentoML's own: each waits out the 60 s


def test_a_slow_request_still_gets_bentomls_504():
    async def slow(scope, receive, send):
        await asyncio.sleep(5)

    sent = asyncio.run(_call(CancellingTimeoutMiddleware(slow, timeout=0.05)))
    assert sent[0]["status"] == 504 and b"in 0.05 seconds" in sent[1]["body"]


def test_an_answer_under_way_is_not_cut_off_by_the_timeout():
    async def slow_body(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"late but whole"})

    sent = asyncio.run(_call(CancellingTimeoutMiddleware(slow_body, timeout=0.05)))
    assert [message.get("status", message.get("body")) for message in sent] == [200, b"late but whole"]


def test_a_timeout_error_of_the_app_itself_is_not_taken_for_the_request_s():
    async def own_timeout(scope, receive, send):
        raise TimeoutError("the model's own call timed out")

    try:
        asyncio.run(_call(CancellingTimeoutMiddleware(own_timeout, timeout=30)))
    except TimeoutError as error:
        assert "the model's own call" in str(error)
    else:
        raise AssertionError("the app's TimeoutError was swallowed")


def test_a_request_that_fails_unanswered_raises_at_once_rather_than_at_the_timeout():
    async def broken(scope, receive, send):
        raise RuntimeError("the app failed before answering")

    async def main():
        started = asyncio.get_running_loop().time()
        try:
            await _call(CancellingTimeoutMiddleware(broken, timeout=30))
        except RuntimeError as error:
            return str(error), asyncio.get_running_loop().time() - started
        return None, None

    message, waited = asyncio.run(main())
    assert message == "the app failed before answering" and waited < 5


def test_the_model_service_is_built_with_it():
    import bento_services.service  # noqa: F401  (installs it on import)

    assert sys.modules["bentoml._internal.server.http.traffic"].TimeoutMiddleware is CancellingTimeoutMiddleware
