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
from typing import Self

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


class Poller:
    """`with Poller(...):` calls `_sample` every `interval_s` on a thread of its own while the
    block runs, until it returns False."""

    def __init__(self, interval_s: float = POLL_S) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name=type(self).__name__, daemon=True)

    def _sample(self) -> bool:
        """Takes a sample; False when there is nothing more to sample."""
        raise NotImplementedError

    def _poll(self) -> None:
        while self._sample() and not self._stop.wait(self.interval_s):
            pass

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class _PeakSampler(Poller):
    """`with Sampler(...) as s: ...` then `s.peak_mb`: the largest figure `_figure` gave."""

    def __init__(self) -> None:
        super().__init__()
        self.peak_mb = 0.0

    def _figure(self) -> float | None:
        """The figure now, or None when there is nothing more to sample."""
        raise NotImplementedError

    def _sample(self) -> bool:
        figure = self._figure()
        if figure is not None:
            self.peak_mb = max(self.peak_mb, figure)
        return figure is not None


class TreeSampler(_PeakSampler):
    """The largest sum of resident memory over a process and its descendants (polled, so the
    process's own `VmHWM` is taken as well: a lone process's peak is then exact)."""

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid

    def _figure(self) -> float | None:
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return None
        resident = 0
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                resident += process.memory_info().rss
        return max(resident / 2**20, peak_mb(self.pid) or 0.0)


class BackendSampler(_PeakSampler):
    """The largest peak RSS of any PostgreSQL backend serving `database` (shared buffers it
    touched included, so an upper bound of what the backend itself holds)."""

    def __init__(self, database: str) -> None:
        super().__init__()
        self.database = database

    def _figure(self) -> float | None:
        peaks = [0.0]
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if cmdline.startswith("postgres: ") and f" {self.database} " in cmdline:
                peaks.append(peak_mb(process.pid) or 0.0)
        return max(peaks)
