"""Sysmon for Linux: XML events in syslog lines, and Sentinel `Syslog` rows holding them.

Source `sysmon_linux`, with the Windows Sysmon field names (`EventID`, `Image`, `CommandLine`,
`ParentImage`, `User`, `TargetFilename`, `DestinationIp`...) so Linux process_creation Sigma rules
and the Sysmon event classes apply as they do on Windows. Damaged XML is quarantined.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from watchfloor.ingest.formats._json import JsonFamilyFormat
from watchfloor.ingest.formats._route import LINE_MAPPINGS, LineFormat, sentinel_row_fields
from watchfloor.ingest.formats._sysmon_xml import SYSMON_LINUX_MAPPING, find_sysmon_xml, parse_sysmon_xml

__all__ = ["SYSMON_LINUX_MAPPING", "SysmonLinuxFormat", "SysmonLinuxSentinelFormat", "parse_sysmon_xml"]


class SysmonLinuxFormat(LineFormat):
    """Syslog files (or bare lines) whose messages are mostly Sysmon `<Event>` XML."""

    name: ClassVar[str] = "sysmon-linux"
    description: ClassVar[str] = "Sysmon for Linux XML events in syslog"
    claims: ClassVar[frozenset[str]] = frozenset({"sysmon_linux"})


class SysmonLinuxSentinelFormat(JsonFamilyFormat):
    """Log Analytics / Sentinel `Syslog` rows whose `SyslogMessage` is a Sysmon `<Event>`."""

    name = "sysmon-linux-sentinel"
    description = "Sysmon for Linux events in Azure Sentinel Syslog table rows"
    source = "sysmon_linux"
    mappings = LINE_MAPPINGS
    confidence = 95

    def matches(self, record: Mapping[str, Any]) -> bool:
        """A `SyslogMessage` holding an `<Event>` document."""
        message = record.get("SyslogMessage")
        return isinstance(message, str) and find_sysmon_xml(message) >= 0

    def convert(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Sysmon fields from the XML, table columns beside them."""
        message = record.get("SyslogMessage")
        if not isinstance(message, str):
            raise ValueError("no SyslogMessage")
        start = find_sysmon_xml(message)
        if start < 0:
            raise ValueError("SyslogMessage holds no Sysmon <Event>")
        return "sysmon_linux", sentinel_row_fields(record, parse_sysmon_xml(message[start:]))
