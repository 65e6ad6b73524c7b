"""A stream of requests against a model's URL while its serving changes (deploys, rollbacks, swaps),
and the model the serving tests deploy with a row it scores."""

from __future__ import annotations

import threading
import time

import httpx

NAME = "diabetes_regressor"
ROW = {"age": 0.02, "sex": -0.04, "bmi": 0.06, "bp": 0.02, "s1": -0.04,
       "s2": -0.03, "s3": -0.04, "s4": 0.0, "s5": 0.02, "s6": -0.02}


class Stream:
    """Requests back to back from a few threads against one URL, until stopped."""

    def __init__(self, url: str, row: dict, threads: int = 3):
        self.url, self.row, self.versions, self.failures = url, row, [], []
        self.timed: list[tuple[float, float, int]] = []  # (sent, answered, version)
        self.answered: dict[str, int] = {}  # x-request-id -> version, of every 200
        self.failed_at: list[float] = []  # when each failure was seen
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self):
        with httpx.Client(timeout=60.0) as client:
            while not self._stop.is_set():
                try:
                    sent = time.monotonic()
                    response = client.post(f"{self.url}/predict", json=[self.row])
                    if response.status_code == 200:
                        self.versions.append(response.json()["model_version"])
                        self.answered[response.headers["x-request-id"]] = self.versions[-1]
                        self.timed.append((sent, time.monotonic(), self.versions[-1]))
                    else:
                        self.failures.append(f"{response.status_code}: {response.text[:200]}")
                        self.failed_at.append(time.monotonic())
                except httpx.HTTPError as error:
                    self.failures.append(f"{type(error).__name__}: {error}")
                    self.failed_at.append(time.monotonic())

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        time.sleep(1.0)  # keep the stream going after the switch
        self._stop.set()
        for thread in self._threads:
            thread.join()
