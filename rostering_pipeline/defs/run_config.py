"""The run config of `roster_sync`: `mode` and `approve_deactivations`, shared by every step."""

from __future__ import annotations

from typing import Literal

import dagster as dg

Mode = Literal["full", "delta", "preview"]


class SyncConfig(dg.Config):
    mode: Mode = "full"
    approve_deactivations: int = 0  # the largest deactivation count approved; 0 = none


def job_config_mapping(step_names: list[str]) -> dg.ConfigMapping:
    """Lets a run say `{mode: delta}` once instead of once per asset."""

    def fan_out(values: dict) -> dict:
        return {"ops": {name: {"config": dict(values)} for name in step_names}}

    return dg.ConfigMapping(
        config_fn=fan_out,
        config_schema={
            "mode": dg.Field(str, default_value="full", description="full | delta | preview"),
            "approve_deactivations": dg.Field(
                int, default_value=0, description="largest deactivation count approved; 0 = none"
            ),
        },
    )


def sync_tags(district_key: str, mode: str, provider_host: str, client_id: str) -> dict[str, str]:
    """The tags every `roster_sync` run carries, whoever launches it (DESIGN.md, Dagster names)."""
    return {
        "district": district_key,
        "rostering/mode": mode,
        "rostering/provider": f"{provider_host}/{client_id}",
    }
