"""Syslog files (RFC 3164, as in /var/log/auth.log, and RFC 5424): source `syslog`.

Each line's header becomes `facility`, `severity`, `timestamp`, `hostname`, `appname`, `procid`,
`msgid` and `message`; RFC 5424 structured data becomes `sd.<id>.<param>`; sshd, sudo, PAM and
useradd messages add `user`, `src_ip`, `outcome`... (see `_auth`). A line whose message is CEF, LEEF,
an audit record or Sysmon XML goes to that source instead, keeping the header as `syslog.*` fields.
`parse_syslog` and `route_line` are pure functions, shared with the syslog network listener.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from watchfloor.events import to_text
from watchfloor.ingest.formats._auth import extract_auth
from watchfloor.ingest.formats._json import JsonFamilyFormat
from watchfloor.ingest.formats._route import (
    LINE_MAPPINGS,
    LineFormat,
    parse_message,
    route_line,
    sentinel_row_fields,
)
from watchfloor.ingest.formats._syslog_parse import SYSLOG_MAPPING, parse_structured_data, parse_syslog

__all__ = [
    "SYSLOG_MAPPING",
    "SyslogFormat",
    "SyslogSentinelFormat",
    "parse_structured_data",
    "parse_syslog",
    "route_line",
]

#: Log Analytics `Syslog` columns under the names `parse_syslog` gives the same header parts.
_SENTINEL_COLUMNS = (
    ("timestamp", "EventTime"),
    ("hostname", "HostName"),
    ("appname", "ProcessName"),
    ("procid", "ProcessID"),
    ("facility", "Facility"),
    ("severity", "SeverityLevel"),
)


class SyslogFormat(LineFormat):
    """Any file of syslog lines; the specific formats outbid it when their records dominate the file."""

    name: ClassVar[str] = "syslog"
    description: ClassVar[str] = "Syslog lines (RFC 3164 / auth.log, RFC 5424), embedded CEF/LEEF/Sysmon"
    claims: ClassVar[frozenset[str]] = frozenset(m.source for m in LINE_MAPPINGS)
    confidence: ClassVar[int] = 60


class SyslogSentinelFormat(JsonFamilyFormat):
    """Log Analytics / Sentinel `Syslog` table rows: the columns renamed to the syslog source's names.

    A `SyslogMessage` that is CEF, LEEF, an audit record or Sysmon XML goes to that source (the
    `auditd-sentinel` and `sysmon-linux-sentinel` formats claim files made only of those).
    """

    name = "syslog-sentinel"
    description = "Azure Sentinel / Log Analytics Syslog table rows"
    source = "syslog"
    mappings = LINE_MAPPINGS
    confidence = 85

    def matches(self, record: Mapping[str, Any]) -> bool:
        """A `Syslog` table row."""
        return record.get("Type") == "Syslog" and isinstance(record.get("SyslogMessage"), str)

    def convert(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Embedded records parsed; plain messages get the syslog names and the auth fields."""
        message = record.get("SyslogMessage")
        if not isinstance(message, str):
            raise ValueError("no SyslogMessage")
        embedded = parse_message(message)
        if embedded is not None:
            return embedded[0], sentinel_row_fields(record, embedded[1])
        fields: dict[str, str | None] = {
            syslog_name: to_text(record.get(column)) for syslog_name, column in _SENTINEL_COLUMNS
        }
        fields["message"] = message
        fields.update(extract_auth(fields.get("appname"), message))
        return "syslog", sentinel_row_fields(record, fields)
