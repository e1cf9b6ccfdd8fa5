"""Run coordinators that tag a district's run before it is queued or launched.

The repo's `dagster.yaml` names `QueuedDistrictRunCoordinator` (the run queue, whose limits key
on the district and provider tags); the embedded home of the CLI, the demo and `make ui` names
`ImmediateDistrictRunCoordinator` (runs start at once, as with Dagster's default).
"""

from __future__ import annotations

import logging

from dagster import DagsterInstance
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.run_coordinator.sync_in_memory_run_coordinator import (
    SyncInMemoryRunCoordinator,
)
from dagster._core.storage.dagster_run import DagsterRun

from rostering_pipeline.defs.run_tags import complete_tags
from rostering_pipeline.defs.turns import HOST_TAG, PID_TAG
from rostering_pipeline.platform.launchers import FORKED_TAG

WORKER_TAGS = (HOST_TAG, PID_TAG, FORKED_TAG)

log = logging.getLogger(__name__)


class _CompletesDistrictTags:
    """Mixed in before a Dagster run coordinator: tags first, then the coordinator's own way."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        try:
            run = complete_tags(self._instance, run)
        except Exception as exc:
            # A registry that cannot be read must not lose the run: its steps complete the tags
            # (or fail, saying why).
            log.warning("run %s: district tags not added (%s)", run.run_id, type(exc).__name__)
        run = without_inherited_worker(self._instance, run)
        return super().submit_run(SubmitRunContext(run, context.workspace))


def without_inherited_worker(instance: DagsterInstance, run: DagsterRun) -> DagsterRun:
    """A run not yet launched has no worker: worker tags it carries are its parent's (the UI
    copies them to a re-execution), and would get it marked failed for the parent's dead
    process, or its Terminate sent there. Emptied; the launcher or the steps record its own."""
    inherited = {name: "" for name in WORKER_TAGS if run.tags.get(name)}
    if not inherited:
        return run
    instance.add_run_tags(run.run_id, inherited)
    return instance.get_run_by_id(run.run_id) or run


class QueuedDistrictRunCoordinator(_CompletesDistrictTags, QueuedRunCoordinator):
    """Dagster's run queue, for runs that carry their district's tags."""


class ImmediateDistrictRunCoordinator(_CompletesDistrictTags, SyncInMemoryRunCoordinator):
    """Dagster's default coordinator (launch at once), for runs that carry their district's tags."""
