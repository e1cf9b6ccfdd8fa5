"""The CPU time of a fleet's processes by kind (run workers, PostgreSQL, the daemon...), sampled
in the background, so that where a run's CPU goes can be read for any span afterwards, and each
run worker's whole life (its CPU time and how often it was preempted)."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import numpy as np
import psutil

from benchmarks.memory import Poller

SAMPLE_S = 0.25
EXIT_WAIT_S = 15.0  # a run worker's end after its run's: its last events, then its exit
RUN_WORKERS = "run workers"
# Kinds in the order a table lists them: how each process is told from its command line.
POSTGRES = "PostgreSQL"  # told by its executable's name: others' arguments may name it
KINDS = (
    (RUN_WORKERS, "spawn_main"),  # the code server spawns each run's process (multiprocessing)
    (POSTGRES, None),
    ("code servers", " api grpc"),
    ("daemon", "dagster-daemon"),
    ("providers", "dev-provider"),
)
BENCH = "the bench (its samplers, the calibration's launches)"
OTHER = "other processes"
KIND_NAMES = (*(kind for kind, _ in KINDS), BENCH, OTHER)


@dataclass
class _Seen:
    kind: str
    first_seen: float
    cpu_s: float = 0.0
    preempted: int = 0  # involuntary context switches: the scheduler took the core away


@dataclass(frozen=True)
class WorkerLife:
    cpu_s: float
    preempted: int


class ProcessCpu(Poller):
    """`with ProcessCpu():` then `by_kind_between(start, end)` and `workers_between(...)`. A
    process's last sample stands for its whole life (up to one interval of its end is lost)."""

    def __init__(self) -> None:
        super().__init__(SAMPLE_S)
        self._alive: dict[tuple[int, float], _Seen] = {}  # by pid and start (pids are reused)
        self._workers: dict[tuple[int, float], _Seen] = {}  # alive or not
        self._retired = dict.fromkeys(KIND_NAMES, 0.0)  # the CPU of processes that have ended
        self._times: list[float] = []
        self._totals: dict[str, list[float]] = {kind: [] for kind in KIND_NAMES}
        self._lock = threading.Lock()

    def _sample(self) -> bool:
        now = time.time()
        with self._lock:
            present = set()
            for process in psutil.process_iter():
                try:
                    present.add(self._measure(process, now))
                except psutil.Error:
                    continue  # gone meanwhile, or not ours to read
            for key in self._alive.keys() - present:
                seen = self._alive.pop(key)
                self._retired[seen.kind] += seen.cpu_s
            totals = dict(self._retired)
            for seen in self._alive.values():
                totals[seen.kind] += seen.cpu_s
            self._times.append(now)
            for kind, total in totals.items():
                self._totals[kind].append(total)
        return True

    def _measure(self, process: psutil.Process, now: float) -> tuple[int, float]:
        """Records the process's CPU time so far; its key."""
        key = (process.pid, process.create_time())
        seen = self._alive.get(key)
        if seen is None or now - seen.first_seen < 1.0:  # a fork may not have exec'd yet
            seen = _Seen(self._kind(process), seen.first_seen if seen else now)
            self._alive[key] = seen
        times = process.cpu_times()
        seen.cpu_s = times.user + times.system
        if seen.kind == RUN_WORKERS:
            seen.preempted = process.num_ctx_switches().involuntary
            self._workers[key] = seen
        return key

    @staticmethod
    def _kind(process: psutil.Process) -> str:
        if process.name() == "postgres":
            return POSTGRES
        command = " ".join(process.cmdline())
        kind = next((kind for kind, mark in KINDS if mark and mark in command), None)
        if kind:
            return kind
        # the bench and its own children of no other kind (`dagster job launch`)
        return BENCH if os.getpid() in (process.pid, process.ppid()) else OTHER

    def by_kind_between(self, start: float, end: float) -> dict[str, float]:
        """Core-seconds each kind of process used from `start` to `end` (epoch seconds)."""
        with self._lock:
            return {
                kind: float(np.diff(np.interp([start, end], self._times, totals))[0])
                for kind, totals in self._totals.items()
            }

    def workers_between(self, start: float, end: float) -> list[WorkerLife]:
        """The run workers first seen from `start` to `end`, each over its whole life (once
        they have all exited, or after EXIT_WAIT_S)."""
        with self._lock:
            keys = [key for key, seen in self._workers.items() if start <= seen.first_seen <= end]
        deadline = time.monotonic() + EXIT_WAIT_S
        while any(psutil.pid_exists(pid) for pid, _ in keys) and time.monotonic() < deadline:
            time.sleep(SAMPLE_S)
        with self._lock:
            return [
                WorkerLife(self._workers[key].cpu_s, self._workers[key].preempted) for key in keys
            ]
