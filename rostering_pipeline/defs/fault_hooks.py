"""Test hooks of the reconciliation (rostering_pipeline_tests/faults), inert unless set.

At a named point (`before_roster`: the roster step's start, every extract done; then the
reconciliation's own, appdb.reconcile.FAULT_POINTS):
- `ROSTERING_FAULT_KILL_AT=POINT` SIGKILLs the sync process, to prove a crash anywhere leaves
  the app DB as it was;
- `ROSTERING_FAULT_STALL_AT=POINT:SECONDS` sleeps there, holding the district's lock, to stand in
  for a large district's long transaction.
"""

import os
import signal
import time
from collections.abc import Callable

from rostering_pipeline.appdb.reconcile import FAULT_POINTS

KILL_AT_VARIABLE = "ROSTERING_FAULT_KILL_AT"
STALL_AT_VARIABLE = "ROSTERING_FAULT_STALL_AT"
POINTS = ("before_roster", *FAULT_POINTS)


def fault_hook_from_env() -> Callable[[str], None] | None:
    """The reconciliation's fault hook when either variable names a point, else None."""
    kill_at = os.environ.get(KILL_AT_VARIABLE, "")
    stall_at, _, seconds = os.environ.get(STALL_AT_VARIABLE, "").partition(":")
    for variable, point in ((KILL_AT_VARIABLE, kill_at), (STALL_AT_VARIABLE, stall_at)):
        if point and point not in POINTS:
            raise ValueError(f"{variable}: unknown point; one of {', '.join(POINTS)}")
    if not kill_at and not stall_at:
        return None
    stall_s = float(seconds or 0)

    def hook(point: str) -> None:
        if point == stall_at:
            time.sleep(stall_s)
        if point == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook
