"""Real servers for tests: started on loopback, tracked by PID, stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from infra.processes import Process, proc_stat, session_members


def until(check, timeout: float = 10.0) -> bool:
    """Whether ``check()`` turns true within ``timeout`` seconds, asked every 50 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A subprocess in its own session, so stopping it reaches its children too."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str] | None = None):
        self.log = log
        with log.open("wb") as stream:
            self.process = subprocess.Popen(
                command, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self.pid = self.process.pid

    def wait_until(self, ready, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()[-2000:]}")
            if ready():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{what} not ready after {timeout}s:\n{self.log.read_text()[-2000:]}")

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()[-2000:]}")
            try:
                httpx.get(url, timeout=2.0)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        raise TimeoutError(f"{url} not up after {timeout}s:\n{self.log.read_text()[-2000:]}")

    def session_pids(self) -> set[int]:
        """This server and whatever it started that still lives in its session."""
        return set(session_members(Process("server", self.pid, proc_stat(self.pid).get("start_ticks", -1), str(self.log))))

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.killpg(self.pid, sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
