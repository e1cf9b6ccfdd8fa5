"""A run's lineage: the run, the run it re-executes, and so on up to the root run.

A re-execution from failure runs only the failed steps; what the earlier steps pulled and validated
is in its ancestors' ledger entries, and is part of the same set of snapshots.
"""

import dagster as dg


def run_lineage(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[str, ...]:
    """The run ids from `run` up to its root, nearest first."""
    lineage = [run.run_id]
    parent_id = run.parent_run_id
    while parent_id is not None and parent_id not in lineage:
        lineage.append(parent_id)
        parent = instance.get_run_by_id(parent_id)
        parent_id = parent.parent_run_id if parent else None
    if run.root_run_id and run.root_run_id not in lineage:  # a deleted link in the chain
        lineage.append(run.root_run_id)
    return tuple(lineage)
