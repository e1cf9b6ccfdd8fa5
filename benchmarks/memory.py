"""Peak resident memory of processes: our own, a child's, and PostgreSQL's backends.

Linux keeps each process's peak resident set (`VmHWM` in /proc/PID/status), so a process's peak
can be read at any time before it exits, without sampling. Backends come and go with
connections, so a thread polls them and keeps the largest peak seen.
"""

from __future__ import annotations

import contextlib
import resource
import threading
from pathlib import Path

import psutil

POLL_S = 0.2


def peak_mb(pid: int) -> float | None:
    """The process's peak RSS so far, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def own_peak_mb() -> float:
    """This process's peak RSS, and that of any child it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


class TreeSampler:
    """`with TreeSampler(pid) as s: ...` then `s.peak_mb`: the largest sum of resident memory
    over the process and its descendants seen while the block ran (polled, so the process's own
    `VmHWM` is taken as well: a lone process's peak is then exact)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="tree-sampler", daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                root = psutil.Process(self.pid)
                tree = [root, *root.children(recursive=True)]
                resident = 0
                for process in tree:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        resident += process.memory_info().rss
            except psutil.NoSuchProcess:
                return
            own = peak_mb(self.pid) or 0.0
            self.peak_mb = max(self.peak_mb, resident / 2**20, own)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class BackendSampler:
    """`with BackendSampler(database) as s: ...` then `s.peak_mb`: the largest peak RSS of any
    PostgreSQL backend serving `database` while the block ran (shared buffers it touched
    included, so an upper bound of what the backend itself holds)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="pg-backend-sampler", daemon=True)

    def _backends(self) -> list[int]:
        pids = []
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if cmdline.startswith("postgres: ") and f" {self.database} " in cmdline:
                pids.append(process.pid)
        return pids

    def _poll(self) -> None:
        while not self._stop.wait(POLL_S):
            for pid in self._backends():
                self.peak_mb = max(self.peak_mb, peak_mb(pid) or 0.0)

    def __enter__(self) -> BackendSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
