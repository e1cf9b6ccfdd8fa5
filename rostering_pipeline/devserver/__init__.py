"""A local OneRoster 1.1 provider for the demo, the tests and the benchmarks.

It shares no code with `rostering_pipeline.oneroster` (own serialization, own auth checks), so a
test of the client against it can catch a mistake in either.
"""

from __future__ import annotations

from rostering_pipeline.devserver.app import Stats
from rostering_pipeline.devserver.daily import DayChanges
from rostering_pipeline.devserver.server import ProviderServer
from rostering_pipeline.devserver.settings import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    Faults,
    ProviderSettings,
    Quirks,
)
from rostering_pipeline.devserver.synthetic import District, DistrictSpec, generate

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DayChanges",
    "District",
    "DistrictSpec",
    "Faults",
    "ProviderServer",
    "ProviderSettings",
    "Quirks",
    "Stats",
    "generate",
]
