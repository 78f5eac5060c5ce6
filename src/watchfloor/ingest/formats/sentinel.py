"""Microsoft Sentinel / Log Analytics table rows that no more specific format claims.

A row exported from a Log Analytics query names its table in `Type`; the source follows the table
(`OfficeActivity` → `office_activity`, `VMConnection` → `vm_connection`, any Defender XDR table →
`m365_defender`, other tables in snake case). Advanced-hunting exports of Defender tables carry no
`Type`; they are recognised by `Timestamp`, `ActionType` and `ReportId`. Tables with a format of their
own (Windows `SecurityEvent`, Entra `SigninLogs`/`AuditLogs`, `Okta_CL`, `Syslog`) are left to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from watchfloor.ingest.formats._json import JsonFamilyFormat
from watchfloor.schema import EventClass, SourceMapping

__all__ = ["M365_DEFENDER_MAPPING", "OFFICE_ACTIVITY_MAPPING", "SentinelTableFormat", "table_source"]

M365_DEFENDER = "m365_defender"
_DEFENDER_PREFIXES = ("Device", "Identity", "Email", "Alert", "CloudApp", "UrlClick", "Behavior")
_TABLE_SOURCES: Mapping[str, str] = {"OfficeActivity": "office_activity", "VMConnection": "vm_connection"}
#: Tables another format reads: rows of these are not claimed here.
_OTHER_FORMATS = frozenset(
    {
        "SecurityEvent",
        "Event",
        "WindowsEvent",
        "Syslog",
        "SigninLogs",
        "AuditLogs",
        "AADNonInteractiveUserSignInLogs",
        "AADServicePrincipalSignInLogs",
        "AADManagedIdentitySignInLogs",
        "Okta_CL",
    }
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")

_FILE = "File System Activity"
_DEFENDER_CLASSES: Mapping[str, EventClass] = {
    "ProcessCreated": EventClass(1007, "Process Activity", 1, "Launch"),
    "LogonSuccess": EventClass(3002, "Authentication", 1, "Logon"),
    "LogonFailed": EventClass(3002, "Authentication", 1, "Logon"),
    "ConnectionSuccess": EventClass(4001, "Network Activity", 6, "Traffic"),
    "ConnectionFailed": EventClass(4001, "Network Activity", 6, "Traffic"),
    "ConnectionAttempt": EventClass(4001, "Network Activity", 6, "Traffic"),
    "InboundConnectionAccepted": EventClass(4001, "Network Activity", 6, "Traffic"),
    "FileCreated": EventClass(1001, _FILE, 1, "Create"),
    "FileModified": EventClass(1001, _FILE, 3, "Update"),
    "FileDeleted": EventClass(1001, _FILE, 4, "Delete"),
    "FileRenamed": EventClass(1001, _FILE, 5, "Rename"),
    "ImageLoaded": EventClass(1005, "Module Activity", 1, "Load"),
    "RegistryValueSet": EventClass(201001, "Registry Key Activity", 99, "Other"),
    "RegistryKeyCreated": EventClass(201001, "Registry Key Activity", 99, "Other"),
    "DnsQueryResponse": EventClass(4003, "DNS Activity", 1, "Query"),
}

M365_DEFENDER_MAPPING = SourceMapping(
    source=M365_DEFENDER,
    product="Microsoft Defender XDR",
    time=("Timestamp", "TimeGenerated"),
    user=("AccountUpn", "AccountName", "InitiatingProcessAccountUpn", "InitiatingProcessAccountName"),
    src_ip=("LocalIP", "IPAddress"),
    src_port=("LocalPort", "Port"),
    dst_ip=("RemoteIP", "DestinationIPAddress"),
    dst_port=("RemotePort", "DestinationPort"),
    hostname=("DeviceName",),
    process_path=("InitiatingProcessFolderPath",),
    process_cmd_line=("InitiatingProcessCommandLine",),
    process_pid=("InitiatingProcessId",),
    parent_path=("InitiatingProcessParentFileName",),
    parent_pid=("InitiatingProcessParentId",),
    file_path=("FolderPath",),
    activity=("ActionType",),
    class_key=("ActionType",),
    classes=_DEFENDER_CLASSES,
)

OFFICE_ACTIVITY_MAPPING = SourceMapping(
    source="office_activity",
    product="Microsoft 365",
    time=("TimeGenerated", "CreationTime"),
    user=("UserId",),
    src_ip=("Client_IPAddress", "ClientIP"),
    activity=("Operation",),
    status=("ResultStatus",),
    status_values={"succeeded": "Success", "success": "Success", "failed": "Failure", "failure": "Failure"},
    class_key=("Operation",),
    classes={
        "UserLoggedIn": EventClass(3002, "Authentication", 1, "Logon"),
        "UserLoginFailed": EventClass(3002, "Authentication", 1, "Logon"),
    },
    default_class=EventClass(6003, "API Activity", 99, "Other"),
)

VM_CONNECTION_MAPPING = SourceMapping(
    source="vm_connection",
    product="Azure Monitor VM insights",
    time=("TimeGenerated",),
    src_ip=("SourceIp",),
    src_port=("SourcePort",),
    dst_ip=("DestinationIp",),
    dst_port=("DestinationPort",),
    hostname=("Computer",),
    process_path=("ProcessName",),
    default_class=EventClass(4001, "Network Activity", 6, "Traffic"),
)


def table_source(record: Mapping[str, Any]) -> str | None:
    """The source of a Log Analytics row, or None when the row is not one this format claims."""
    table = record.get("Type")
    if (
        isinstance(table, str)
        and _TABLE_NAME.match(table)
        and ("TimeGenerated" in record or "TenantId" in record)
    ):
        if table in _OTHER_FORMATS:
            return None
        if table in _TABLE_SOURCES:
            return _TABLE_SOURCES[table]
        if table.startswith(_DEFENDER_PREFIXES):
            return M365_DEFENDER
        return _CAMEL.sub("_", table).lower()
    hunting = "Timestamp" in record and "ActionType" in record
    if hunting and any(k in record for k in ("ReportId", "ReportId_long", "ReportId_string", "DeviceId")):
        return M365_DEFENDER  # an advanced-hunting export, which has no `Type` column
    return None


class SentinelTableFormat(JsonFamilyFormat):
    """Log Analytics / Sentinel query exports: one source per table."""

    name = "sentinel"
    description = "Microsoft Sentinel / Log Analytics table rows (source named by table)"
    source = "sentinel"
    mappings = (M365_DEFENDER_MAPPING, OFFICE_ACTIVITY_MAPPING, VM_CONNECTION_MAPPING)
    #: Below the Windows, Entra and Okta formats, which read some Log Analytics tables themselves.
    confidence = 60

    def matches(self, record: Mapping[str, Any]) -> bool:
        """A row naming its table, or a Defender advanced-hunting row."""
        return table_source(record) is not None

    def convert(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Rows are flat already (nested values are JSON text), but exports may nest; flatten."""
        target = table_source(record) or self.source
        return target, super().convert(record)[1]
