"""Waiting, in a test, for what another process does: a bounded poll that names what it waited
for when it gives up."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(what: str, found: Callable[[], T], timeout_s: float, every_s: float = 0.5) -> T:
    """`found()`'s first truthy answer, asked every `every_s`; AssertionError naming `what`
    once `timeout_s` has passed without one."""
    deadline = time.monotonic() + timeout_s
    while not (answer := found()):
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout_s:g} s"
        time.sleep(every_s)
    return answer
