"""How a failed sync is described: a kind, an exit code and one safe line (DESIGN.md exit codes)."""

from __future__ import annotations

from dataclasses import dataclass

from rostering_pipeline import errors
from rostering_pipeline.oneroster import errors as client_errors

# The client library has its own error types; each maps to the CLI's exit-code family.
_CLIENT_FAMILIES: tuple[tuple[type[Exception], type[errors.RosteringError]], ...] = (
    (client_errors.CredentialsRejected, errors.CredentialsRejected),
    (client_errors.AccessDenied, errors.CredentialsRejected),
    (client_errors.EndpointNotFound, errors.ProviderUnavailable),
    (client_errors.ProviderUnreachable, errors.ProviderUnavailable),
    (client_errors.ProviderError, errors.ProviderUnavailable),
)


@dataclass(frozen=True)
class Outcome:
    kind: str  # credentials | provider | validation | held | bad_input | unexpected
    exit_code: int
    message: str  # one line, no secret, no personal data


def describe(exc: BaseException) -> Outcome:
    if isinstance(exc, errors.RosteringError):
        return Outcome(exc.kind, exc.exit_code, _one_line(str(exc)))
    for client_type, family in _CLIENT_FAMILIES:
        if isinstance(exc, client_type):
            return Outcome(family.kind, family.exit_code, _one_line(str(exc)))
    # Unknown errors may carry anything in their text (SQL, row values): name the type only.
    return Outcome("unexpected", 1, f"unexpected {type(exc).__name__}; see the run's logs")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def exit_code_for(kind: str | None) -> int:
    """The exit code of a failure kind recorded on a district."""
    families = (errors.RosteringError, *errors.RosteringError.__subclasses__())
    return next((family.exit_code for family in families if family.kind == kind), 1)
