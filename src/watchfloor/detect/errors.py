"""Why a rule could not be loaded or compiled: always said, never turned into a rule that matches nothing."""

from __future__ import annotations

from watchfloor.errors import Location, WatchfloorError

__all__ = ["RuleError", "UnsupportedRule"]


class RuleError(WatchfloorError):
    """A rule file is unreadable or invalid (YAML or Sigma), with the file and line where known."""


class UnsupportedRule(WatchfloorError):
    """A valid Sigma rule uses something this engine cannot evaluate; the message is the reason."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message, location)
