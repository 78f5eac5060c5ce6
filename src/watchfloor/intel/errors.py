"""Why intelligence could not be read, stored or matched: one error class, with where it happened."""

from __future__ import annotations

from watchfloor.errors import WatchfloorError

__all__ = ["IntelError"]


class IntelError(WatchfloorError):
    """A feed, indicator or pattern that cannot be used (the message says why, the location where)."""
