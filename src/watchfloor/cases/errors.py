"""Errors of incident management, each with the HTTP status the API answers with.

They subclass `WatchfloorError`, so the CLI prints them as one line and exits non-zero without knowing
anything about cases.
"""

from __future__ import annotations

from watchfloor.errors import WatchfloorError

__all__ = ["CaseError", "Conflict", "Forbidden", "InvalidInput", "NotAllowed", "NotFound"]


class CaseError(WatchfloorError):
    """Base of every incident-management error."""


class NotFound(CaseError):
    """The incident, alert, user or record named does not exist."""

    http_status = 404


class Conflict(CaseError):
    """The caller's copy is stale: someone changed the incident since it was read.

    Optimistic concurrency turns a silent overwrite between two analysts into this error; the caller
    re-reads and decides again.
    """

    http_status = 409

    def __init__(self, message: str, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class NotAllowed(CaseError):
    """The workflow forbids this change in the incident's current state (for example, ack a closed one)."""

    http_status = 409


class InvalidInput(CaseError):
    """A value is missing or malformed (a close without a verdict, an unknown tier)."""

    http_status = 422


class Forbidden(CaseError):
    """The acting user's role does not allow the change (a tier 1 analyst on a tier 3 incident)."""

    http_status = 403
