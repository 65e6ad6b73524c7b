"""Adaptive batching inside one service process: concurrent requests share model calls.

While the model is busy with one call, requests that arrive queue up; when it is free, one call
scores everything queued (up to ``max_rows``). A request that finds the model idle is scored at
once, so a lone caller waits for nothing, and the batch grows with the load without a timer to
tune. One caller's rows never fail the others': when a shared call raises, each request in it is
scored alone, and only those the model still raises on get the error.

Why not BentoML's ``@bentoml.api(batchable=True)``: measured on the reference machine with the
benchmark's RandomForest, reaching it from our own routes goes through BentoML's in-process HTTP
client (JSON both ways, pydantic, its dispatcher): about 4.5 ms of CPU per request on top of a
2 ms model call, single requests waited up to 50 ms for batches that never came, and 8
concurrent callers got no more throughput than with no batching at all (see benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from starlette.concurrency import run_in_threadpool

logger = logging.getLogger("bentoml.modelyard.batching")


@dataclass
class _Waiting:
    frame: pd.DataFrame
    answer: asyncio.Future
    tag: Any = None  # the caller's, handed to ``on_scored`` with its rows


class MicroBatcher:
    """Queue of feature frames in front of one ``predict(frame) -> frame`` function.

    ``on_scored(features, predictions, [(tag, rows), ...])`` hears of each successful model call
    once, on the event loop, with the frames of the call (the request log: one append per call)."""

    def __init__(self, predict: Callable[[pd.DataFrame], pd.DataFrame], max_rows: int = 256,
                 on_scored: Callable[[pd.DataFrame, pd.DataFrame, list[tuple[Any, int]]], None] | None = None):
        self.predict, self.max_rows, self.on_scored = predict, max_rows, on_scored
        self.calls = self.rows = 0  # model calls made and rows scored, for tests and metrics
        self._queue: deque[_Waiting] = deque()
        self._draining = False

    async def submit(self, frame: pd.DataFrame, tag: Any = None) -> pd.DataFrame:
        """This frame's predictions, index 0..n-1, from whichever model call scored it."""
        waiting = _Waiting(frame.reset_index(drop=True), asyncio.get_running_loop().create_future(), tag)
        self._queue.append(waiting)
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await waiting.answer

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = [self._queue.popleft()]
                rows = len(batch[0].frame)
                while self._queue and rows + len(self._queue[0].frame) <= self.max_rows:
                    batch.append(self._queue.popleft())
                    rows += len(batch[-1].frame)
                await self._score(batch)
        finally:
            self._draining = False

    async def _score(self, batch: list[_Waiting]) -> None:
        frames = [waiting.frame for waiting in batch]
        features = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        try:
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
                self.on_scored(features, result, [(waiting.tag, len(waiting.frame)) for waiting in batch])
            except Exception:  # the answers are ready: a failed observer must not hold them back
                logger.exception("on_scored failed for a call of %d rows", len(features))
        start = 0
        for waiting in batch:
            end = start + len(waiting.frame)
            _settle(waiting.answer, result.iloc[start:end].reset_index(drop=True))
            start = end

    def _call(self, frame: pd.DataFrame) -> pd.DataFrame:
        result = self.predict(frame)
        self.calls, self.rows = self.calls + 1, self.rows + len(frame)
        return result


def _settle(answer: asyncio.Future, result: pd.DataFrame | None = None, error: Exception | None = None) -> None:
    if answer.done():  # the caller went away (cancelled)
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(result)
