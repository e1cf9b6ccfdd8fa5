"""The assets' keys, for the modules that name an asset without defining it."""

import dagster as dg

ROSTER_KEY = dg.AssetKey(["app_db", "roster"])


def asset_key(entity: str) -> dg.AssetKey:
    """The key of the extract asset of a OneRoster entity: `oneroster/<entity>`."""
    return dg.AssetKey(["oneroster", entity])
