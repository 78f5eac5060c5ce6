"""One error tree for the whole product.

Every error can carry where it happened (a file and a line or byte offset, or a field name), so that a
user reading the one-line message knows what to fix. The CLI and the API turn these into exit codes and
HTTP statuses in one place each; library code only raises.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "IngestError",
    "Location",
    "Overloaded",
    "QueryError",
    "StoreError",
    "UnknownFormatError",
    "WatchfloorError",
]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a problem was found: a file, and a line, record number or byte offset within it."""

    path: str | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts = [self.path or "<input>"]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts)


class WatchfloorError(Exception):
    """Base of every error Watchfloor raises on purpose."""

    exit_code = 1
    http_status = 400

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location is None:
            return self.message
        return f"{self.location}: {self.message}"


class ConfigError(WatchfloorError):
    """Settings that are missing, malformed or insecure."""

    exit_code = 2


class IngestError(WatchfloorError):
    """A whole input could not be read (single bad records are quarantined instead)."""


class UnknownFormatError(IngestError):
    """No registered format recognises the input."""


class StoreError(WatchfloorError):
    """The event store could not read or write."""

    http_status = 500


class QueryError(WatchfloorError):
    """A hunt query is invalid or not allowed (for example, it would modify data)."""


class Overloaded(WatchfloorError):
    """The spool or store cannot take more right now; listeners answer with backpressure, not loss."""

    http_status = 503

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
