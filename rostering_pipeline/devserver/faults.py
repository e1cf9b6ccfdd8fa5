"""Which fault, if any, a data request gets: one-shot injections first, then seeded random rates."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from random import Random

from rostering_pipeline.devserver.settings import Faults

INJECTABLE = frozenset(
    {"429", "500", "502", "503", "504", "reset", "truncated", "html", "401", "slow"}
)
DEFAULT_SLOW_S = 5.0


@dataclass(frozen=True)
class Fault:
    kind: str  # one of INJECTABLE
    seconds: float = 0.0  # how long "slow" sleeps


@dataclass
class _Injection:
    fault: Fault
    remaining: int
    path: str | None

    def matches(self, path: str) -> bool:
        return (
            self.path is None or path == self.path or path.startswith(self.path.rstrip("/") + "/")
        )


class FaultPlan:
    """Thread-safe: tests inject from their thread while the server draws in its own."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self._injections: list[_Injection] = []
        self.configure(faults)

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._rng = Random(faults.seed)

    def inject(
        self, kind: str, times: int = 1, path: str | None = None, seconds: float = DEFAULT_SLOW_S
    ) -> None:
        if kind not in INJECTABLE:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(INJECTABLE)}")
        with self._lock:
            self._injections.append(_Injection(Fault(kind, seconds), times, path))

    def clear(self) -> None:
        """Forget injections not yet consumed."""
        with self._lock:
            self._injections.clear()

    def draw(self, path: str) -> Fault | None:
        """`path` is relative to the API prefix, like "/users" or "/users/abc"."""
        with self._lock:
            for injection in self._injections:
                if injection.matches(path):
                    injection.remaining -= 1
                    if injection.remaining <= 0:
                        self._injections.remove(injection)
                    return injection.fault
            f, roll = self.faults, self._rng.random()
            for kind, rate in (
                ("429", f.rate_429),
                ("5xx", f.rate_5xx),
                ("reset", f.rate_reset),
                ("truncated", f.rate_truncated),
                ("html", f.rate_html),
            ):
                if roll < rate:
                    return Fault(
                        self._rng.choice(("500", "502", "503", "504")) if kind == "5xx" else kind
                    )
                roll -= rate
            return None
