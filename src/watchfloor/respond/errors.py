"""Errors of response automation, under the one `WatchfloorError` tree.

A playbook that does not load names its file and field; a step that fails carries the reason that the
run records and the CLI prints. Secrets never reach these messages (see `secrets.redact`).
"""

from __future__ import annotations

from watchfloor.errors import WatchfloorError

__all__ = ["ApprovalError", "ConnectorError", "PlaybookError", "RespondError", "StepTimeout"]


class RespondError(WatchfloorError):
    """Base of every response-automation error."""


class PlaybookError(RespondError):
    """A playbook file is malformed: unknown step kind, bad trigger, bad expression."""

    exit_code = 2
    http_status = 422


class ConnectorError(RespondError):
    """A connector refused or failed an action (disabled, unknown action, HTTP error, exit status)."""

    http_status = 502


class StepTimeout(ConnectorError):
    """A step ran past its timeout; the attempt is abandoned and counted as failed."""

    http_status = 504


class ApprovalError(RespondError):
    """An approval that cannot be given: wrong role, no run waiting, or the approval timed out."""

    http_status = 403
