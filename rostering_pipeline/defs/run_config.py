"""What one `roster_sync` run is asked to do: the run config and the tags every run carries."""

from __future__ import annotations

import dagster as dg


class SyncOptions(dg.ConfigurableResource):
    """Run config in one place for every step: `resources: {sync: {config: {mode: delta}}}`."""

    mode: str = "full"  # full | delta | preview
    approve_deactivations: int = 0  # the largest deactivation count approved; 0 = none


MODES = ("full", "delta", "preview")


def sync_run_config(mode: str, approve_deactivations: int = 0) -> dict:
    return {
        "resources": {
            "sync": {"config": {"mode": mode, "approve_deactivations": approve_deactivations}}
        }
    }


def sync_tags(district_key: str, mode: str, provider_host: str, client_id: str) -> dict[str, str]:
    """The tags every `roster_sync` run carries, whoever launches it (DESIGN.md, Dagster names)."""
    return {
        "district": district_key,
        "rostering/mode": mode,
        "rostering/provider": f"{provider_host}/{client_id}",
    }
