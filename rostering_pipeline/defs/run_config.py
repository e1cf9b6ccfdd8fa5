"""What one `roster_sync` run is asked to do: the run config and the tags every run carries."""

from __future__ import annotations

from urllib.parse import urlsplit

import dagster as dg

from rostering_pipeline.districts import District


class SyncOptions(dg.ConfigurableResource):
    """Run config in one place for every step: `resources: {sync: {config: {mode: delta}}}`."""

    mode: str = "full"  # full | delta | preview
    approve_deactivations: int = 0  # the largest deactivation count approved; 0 = none
    # A CSV district's package (a zip or a folder of CSV files); its manifest says full or delta
    package: str = ""
    # how long a step waits for an earlier run of its district to finish before failing
    wait_for_earlier_run_s: int = 3600


MODES = ("full", "delta", "preview")


MODE_TAG = "rostering/mode"


def sync_run_config(mode: str, approve_deactivations: int = 0, package: str | None = None) -> dict:
    options: dict = {"mode": mode, "approve_deactivations": approve_deactivations}
    if package is not None:
        options["package"] = package
    return {"resources": {"sync": {"config": options}}}


def sync_tags(district: District, mode: str) -> dict[str, str]:
    """The tags every `roster_sync` run carries, whoever launches it (DESIGN.md, Dagster names).

    The provider tag is host and client id: the per-provider run limit keys on it, so that many
    districts behind one host but with their own clients are not serialized.
    """
    provider = (
        f"csv/{district.key}"  # files: no provider to share a limit with
        if district.source == "csv"
        else f"{urlsplit(district.base_url).netloc}/{district.client_id}"
    )
    return {"district": district.key, MODE_TAG: mode, "rostering/provider": provider}
