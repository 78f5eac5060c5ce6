"""Keeping configured secrets out of the audit log, run records and error messages.

Connectors collect the secret values of their configuration; everything they return or raise passes
through `redact` before it is stored or printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "redact", "redact_text"]

MASK = "***"
_MIN_SECRET = 4


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value (long enough to be one) replaced by `***`."""
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact(value: Any, secrets: Iterable[str]) -> Any:
    """Redact the strings inside a JSON-like value."""
    known = tuple(secrets)
    if isinstance(value, str):
        return redact_text(value, known)
    if isinstance(value, Mapping):
        return {k: redact(v, known) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item, known) for item in value]
    return value
