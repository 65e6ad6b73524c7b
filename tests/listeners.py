"""Which sockets this test run's processes listen on, read from /proc (no process names).

A process belongs to the run when it descends from the pytest process, or did when it was first
seen: servers outlive the command that started them (``modelyard demo`` leaves its deployment
running, reparented to init), so ``ListenerWatch`` records ancestry as the run goes instead of
reading it once at the end.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from infra.processes import proc_stat

LISTEN = "0A"  # TCP state in /proc/net/tcp
UNOWNED_SAMPLES = 3  # a new wide socket with no owner among ours is foreign after this many looks


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    pid: int
    command: str

    @property
    def loopback(self) -> bool:
        return is_loopback(self.address)

    def __str__(self) -> str:
        return f"PID {self.pid} ({self.command}) listens on {self.address}:{self.port}"


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, or IPv4 loopback mapped into IPv6."""
    parsed = ipaddress.ip_address(address)
    mapped = getattr(parsed, "ipv4_mapped", None)
    return parsed.is_loopback or bool(mapped and mapped.is_loopback)


def listening_sockets() -> dict[int, tuple[str, int]]:
    """Every listening TCP socket of this network namespace: inode -> (address, port)."""
    found = {}
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != LISTEN:
                continue
            raw, port = fields[1].split(":")
            # the kernel prints each 32-bit word of the address in host (little-endian) order
            packed = b"".join(bytes.fromhex(raw[i:i + 8])[::-1] for i in range(0, len(raw), 8))
            found[int(fields[9])] = (str(ipaddress.ip_address(packed[:width])), int(port, 16))
    return found


def sockets_of(pids: set[int]) -> dict[int, int]:
    """Socket inode -> PID, for the open file descriptors of ``pids``."""
    owners = {}
    for pid in pids:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        for descriptor in descriptors:
            try:
                target = os.readlink(descriptor)
            except OSError:
                continue
            if target.startswith("socket:["):
                owners.setdefault(int(target[8:-1]), pid)
    return owners


def listeners_of(pids: set[int]) -> list[Listener]:
    """What ``pids`` listen on, any address."""
    sockets = listening_sockets()
    return [Listener(*sockets[inode], pid, _command(pid)) for inode, pid in sockets_of(pids).items()
            if inode in sockets]


class ListenerWatch:
    """Samples, in a thread, every socket that a process of this run listens on beyond loopback."""

    def __init__(self, root: int, interval: float = 0.5):
        self.root, self.interval = root, interval
        self.ours: set[tuple[int, int]] = set()  # (pid, start ticks): a reused PID is not ours
        self.wide: list[Listener] = []
        self._reported = 0
        self._looks: dict[int, int] = {inode: UNOWNED_SAMPLES for inode in listening_sockets()}  # before us
        self.ours.add((root, proc_stat(root)["start_ticks"]))
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="listener-watch", daemon=True)

    def start(self) -> ListenerWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def our_pids(self) -> set[int]:
        """PIDs alive now that belong to the run (its descendants, and orphans seen as such)."""
        table = _process_table()
        with self._lock:
            for pid in table:
                chain, current = [], pid
                while current in table and (current, table[current][1]) not in self.ours:
                    chain.append(current)
                    current = table[current][0]
                if current in table:  # the walk ended at one of ours (the root is one)
                    self.ours.update((member, table[member][1]) for member in chain)
            return {pid for pid, (_, start) in table.items() if (pid, start) in self.ours}

    def sample(self) -> list[Listener]:
        """Look now (ancestry too, so orphans stay ours); returns every wide listener found so far."""
        ours = self.our_pids()
        sockets = listening_sockets()
        with self._lock:
            new = {inode: where for inode, where in sockets.items()
                   if self._looks.get(inode, 0) < UNOWNED_SAMPLES and not is_loopback(where[0])}
        owners = sockets_of(ours) if new else {}
        with self._lock:
            for inode, (address, port) in new.items():
                if self._looks.get(inode, 0) >= UNOWNED_SAMPLES:
                    continue  # the thread's sample and a test's, at once: the first one named it
                if inode in owners:
                    self.wide.append(Listener(address, port, owners[inode], _command(owners[inode])))
                    self._looks[inode] = UNOWNED_SAMPLES
                else:
                    self._looks[inode] = self._looks.get(inode, 0) + 1
            return list(self.wide)

    def unreported(self) -> list[Listener]:
        """Look now; the wide listeners found since the last call."""
        found = self.sample()
        with self._lock:
            fresh, self._reported = found[self._reported:], len(found)
        return fresh

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.sample()


def _process_table() -> dict[int, tuple[int, int]]:
    """PID -> (parent PID, kernel start ticks) of every process."""
    stats = {int(entry.name): proc_stat(int(entry.name)) for entry in Path("/proc").iterdir() if entry.name.isdigit()}
    return {pid: (stat["ppid"], stat["start_ticks"]) for pid, stat in stats.items() if stat}


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
    except (FileNotFoundError, ProcessLookupError):
        return "?"
