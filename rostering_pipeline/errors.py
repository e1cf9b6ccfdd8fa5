"""Failures the CLI reports as one line with a documented exit code (DESIGN.md, Console script)."""

from __future__ import annotations


class RosteringError(Exception):
    """Base class; the message is one line, safe to print (never a secret or a person's data)."""

    exit_code = 1
    kind = "unexpected"


class BadInput(RosteringError):
    """Unknown district, bad option, wrong status for the mode, missing key..."""

    exit_code = 2
    kind = "bad_input"


class ChecksFailed(RosteringError):
    exit_code = 3
    kind = "validation"


class SyncHeld(RosteringError):
    """The deactivation guard held the sync."""

    exit_code = 4
    kind = "held"


class CredentialsRejected(RosteringError):
    exit_code = 5
    kind = "credentials"


class ProviderUnavailable(RosteringError):
    """The provider is unreachable or keeps erroring."""

    exit_code = 6
    kind = "provider"


class DistrictBusy(RosteringError):
    """Another run of the district was still in progress when this one gave up waiting."""

    exit_code = 1
    kind = "busy"


class DistrictPurged(BadInput):
    """The district was purged while a run of it was under way."""
