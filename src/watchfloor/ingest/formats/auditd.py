"""Linux audit logs: raw auditd files and AUOMS rows of a Sentinel `Syslog` table; source `auditd`.

One row per audit *record*, not per event: the records of one event (SYSCALL, EXECVE, CWD, PATH,
PROCTITLE with the same `audit_serial`) stay separate rows. Their fields overlap with different
meanings (`a0` is a pointer in SYSCALL and the first argument in EXECVE; each PATH has its own `name`),
Sigma's auditd rules select on `type` per record, and an event's records may be interleaved with
others' or cut off at the end of a file; `audit_serial` joins them back in a query. EXECVE rows gain
`cmdline`, the arguments joined, which the OCSF core uses as the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from watchfloor.ingest.formats._audit_parse import AUDIT_MAPPING, find_audit, parse_audit
from watchfloor.ingest.formats._json import JsonFamilyFormat
from watchfloor.ingest.formats._route import LINE_MAPPINGS, LineFormat, sentinel_row_fields

__all__ = ["AUDIT_MAPPING", "AuditdFormat", "AuditdSentinelFormat", "parse_audit"]


class AuditdFormat(LineFormat):
    """Raw audit records, one per line (also after a syslog header, as audisp forwards them)."""

    name: ClassVar[str] = "auditd"
    description: ClassVar[str] = "Linux audit logs (auditd raw records)"
    claims: ClassVar[frozenset[str]] = frozenset({"auditd"})


class AuditdSentinelFormat(JsonFamilyFormat):
    """Log Analytics / Sentinel `Syslog` rows whose `SyslogMessage` is an audit record (AUOMS)."""

    name = "auditd-sentinel"
    description = "Linux audit records in Azure Sentinel Syslog table rows (AUOMS)"
    source = "auditd"
    mappings = LINE_MAPPINGS
    confidence = 95

    def matches(self, record: Mapping[str, Any]) -> bool:
        """A `SyslogMessage` holding an audit record."""
        message = record.get("SyslogMessage")
        return isinstance(message, str) and find_audit(message)

    def convert(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Audit fields from the message, table columns beside them."""
        message = record.get("SyslogMessage")
        if not isinstance(message, str):
            raise ValueError("no SyslogMessage")
        return "auditd", sentinel_row_fields(record, parse_audit(message))
