"""Adaptive batching inside one service process: concurrent requests share model calls.

While the model is busy with one call, requests that arrive queue up; when it is free, one call
scores everything queued (up to ``max_rows``). A request that finds the model idle is scored at
once, so a lone caller waits for nothing, and the batch grows with the load without a timer to
tune. One caller's rows never fail the others': when a shared call raises, each request in it is
scored alone, and only those the model still raises on get the error.

A model whose calls take under half a millisecond (a compiled runtime) is called on the event loop
for small batches. What a call takes is the quickest of the last ``RECENT_CALLS``: on 2 busy
cores a 30 us call is often preempted and measured at a millisecond, and an average of those sent
a compiled forest's calls to a thread a third of the time at c=8, where handing them over and
waking the thread cost 13 % of the replica's CPU (py-spy). A model that waits on I/O has no quick
call.

Why not BentoML's ``@bentoml.api(batchable=True)``: measured on the reference machine with the
benchmark's RandomForest, reaching it from our own routes goes through BentoML's in-process HTTP
client (JSON both ways, pydantic, its dispatcher): about 4.5 ms of CPU per request on top of a
2 ms model call, single requests waited up to 50 ms for batches that never came, and 8
concurrent callers got no more throughput than with no batching at all (see benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from starlette.concurrency import run_in_threadpool

from bento_services.rows import Matrix

logger = logging.getLogger("bentoml.modelyard.batching")
# A call this quick on this few rows runs on the event loop: handing it to a thread and back costs
# more than the call (a compiled forest answers one row in ~0.01 ms); slower ones never block the loop.
INLINE_CALL_SECONDS, INLINE_ROWS, RECENT_CALLS = 0.0005, 64, 16


@dataclass
class _Waiting:
    features: Matrix | pd.DataFrame
    answer: asyncio.Future
    tag: Any = None  # the caller's, handed to ``on_scored`` with its rows


class MicroBatcher:
    """Queue of feature rows (a ``Matrix``, or a frame for other types) in front of one
    ``predict(rows) -> answer`` function whose answer slices by rows (``Predictions``, or a frame).

    ``on_scored(features, predictions, [(tag, rows), ...])`` hears of each successful model call
    once, on the event loop, with the rows of the call (the request log: one append per call)."""

    def __init__(self, predict: Callable[[Any], Any], max_rows: int = 256,
                 on_scored: Callable[[Any, Any, list[tuple[Any, int]]], None] | None = None):
        self.predict, self.max_rows, self.on_scored = predict, max_rows, on_scored
        self.calls = self.rows = 0  # model calls made and rows scored, for tests and metrics
        self._recent_seconds: deque[float] = deque(maxlen=RECENT_CALLS)  # the last calls' wall times
        self._queue: deque[_Waiting] = deque()
        self._draining = False

    async def submit(self, frame: Matrix | pd.DataFrame, tag: Any = None):
        """These rows' predictions (a frame's with index 0..n-1), from whichever model call scored them."""
        if isinstance(frame, pd.DataFrame):
            frame = frame.reset_index(drop=True)
        waiting = _Waiting(frame, asyncio.get_running_loop().create_future(), tag)
        self._queue.append(waiting)
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await waiting.answer

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = [self._queue.popleft()]
                rows = len(batch[0].features)
                while self._queue and rows + len(self._queue[0].features) <= self.max_rows:
                    batch.append(self._queue.popleft())
                    rows += len(batch[-1].features)
                await self._score(batch)
        finally:
            self._draining = False

    async def _score(self, batch: list[_Waiting]) -> None:
        features = _joined([waiting.features for waiting in batch])
        try:
            if self.quick and len(features) <= INLINE_ROWS:
                result = self._call(features)  # a compiled model's few rows: quicker than a thread's hand-off
                await asyncio.sleep(0)  # let requests that came meanwhile join the next call
            else:
                result = await run_in_threadpool(self._call, features)
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0].answer, error=error)
                return
            for waiting in batch:  # isolate the request the model raises on
                await self._score([waiting])
            return
        if self.on_scored is not None:
            try:
                self.on_scored(features, result, [(waiting.tag, len(waiting.features)) for waiting in batch])
            except Exception:  # the answers are ready: a failed observer must not hold them back
                logger.exception("on_scored failed for a call of %d rows", len(features))
        start = 0
        for waiting in batch:
            end = start + len(waiting.features)
            _settle(waiting.answer, _rows(result, start, end))
            start = end

    @property
    def quick(self) -> bool:
        """Whether the model's calls are quick enough to make on the event loop (unknown: not)."""
        return bool(self._recent_seconds) and min(self._recent_seconds) < INLINE_CALL_SECONDS

    def _call(self, frame):
        started = time.perf_counter()
        result = self.predict(frame)
        self._recent_seconds.append(time.perf_counter() - started)
        self.calls, self.rows = self.calls + 1, self.rows + len(frame)
        return result


def _joined(rows: list):
    """One call's rows: matrices stacked; a frame among them makes every part a frame."""
    if len(rows) == 1:
        return rows[0]
    if all(isinstance(part, Matrix) for part in rows):
        return Matrix.stacked(rows)
    frames = [part.to_frame() if isinstance(part, Matrix) else part for part in rows]
    return pd.concat(frames, ignore_index=True)


def _rows(result, start: int, end: int):
    if isinstance(result, pd.DataFrame):
        return result.iloc[start:end].reset_index(drop=True)
    return result.rows(start, end)


def _settle(answer: asyncio.Future, result=None, error: Exception | None = None) -> None:
    if answer.done():  # the caller went away (cancelled)
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(result)
