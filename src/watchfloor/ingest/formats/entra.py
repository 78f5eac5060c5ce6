"""Microsoft Entra ID (Azure AD) sign-in and directory audit logs, in the three shapes they travel in.

- Microsoft Graph API (`auditLogs/signIns`, `auditLogs/directoryAudits`): `{"value": [...]}` pages or
  their records, camelCase (`createdDateTime`, `userPrincipalName`, `status.errorCode`).
- Azure Monitor diagnostic-settings export: `{"records": [...]}` or lines with `time`, `category`
  (`SignInLogs`, `AuditLogs`...), `operationName` and the Graph record under `properties`.
- Log Analytics rows (`SigninLogs`, `AuditLogs`, and query results like `AADAuditEvents` whose `Type`
  a projection overwrote): PascalCase columns, nested values as JSON text (`InitiatedBy`).

Sign-ins go to `azure_signin`, audits to `azure_audit`. Names are kept as written in each shape; JSON
text columns that hold an object are also expanded beside the original (`InitiatedBy.user.*`), so one
mapping finds the user whatever the shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from watchfloor.events import flatten
from watchfloor.ingest.formats._cloud_mapping import AZURE_AUDIT_MAPPING, AZURE_SIGNIN_MAPPING
from watchfloor.ingest.formats._json import JsonFamilyFormat

__all__ = ["EntraFormat", "entra_source"]

SIGNIN = AZURE_SIGNIN_MAPPING.source
AUDIT = AZURE_AUDIT_MAPPING.source

#: Azure Monitor categories and Log Analytics tables, by the source they belong to.
_SIGNIN_CATEGORIES = frozenset(
    {
        "signinlogs",
        "noninteractiveusersigninlogs",
        "serviceprincipalsigninlogs",
        "managedidentitysigninlogs",
        "adfssigninlogs",
        "aadnoninteractiveusersigninlogs",
        "aadserviceprincipalsigninlogs",
        "aadmanagedidentitysigninlogs",
    }
)
_AUDIT_CATEGORIES = frozenset({"auditlogs"})
#: Log Analytics columns holding JSON text whose object is worth expanding for the core mapping.
_DYNAMIC_COLUMNS = ("InitiatedBy", "Status", "DeviceDetail", "LocationDetails")


def _by_category(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    lowered = value.lower()
    if lowered in _SIGNIN_CATEGORIES:
        return SIGNIN
    if lowered in _AUDIT_CATEGORIES:
        return AUDIT
    return None


def entra_source(record: Mapping[str, Any]) -> str | None:
    """`azure_signin` or `azure_audit` when the record is an Entra log record in a known shape."""
    if isinstance(record.get("properties"), Mapping) and "operationName" in record:
        return _by_category(record.get("category"))  # Azure Monitor export
    by_table = _by_category(record.get("Type"))
    if by_table is not None:
        return by_table
    if "activityDateTime" in record and "activityDisplayName" in record:
        return AUDIT  # Graph directoryAudit
    if "ActivityDateTime" in record and "ActivityDisplayName" in record and "OperationName" in record:
        return AUDIT  # Log Analytics AuditLogs row, whatever a query did to `Type`
    if "createdDateTime" in record and "userPrincipalName" in record and "status" in record:
        return SIGNIN  # Graph signIn
    if "UserPrincipalName" in record and "ResultType" in record and "AppDisplayName" in record:
        return SIGNIN  # Log Analytics SigninLogs row
    return None


def _expand_json_text(out: dict[str, Any]) -> None:
    for column in _DYNAMIC_COLUMNS:
        value = out.get(column)
        if not isinstance(value, str) or not value.startswith("{"):
            continue
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            for key, inner in flatten(parsed, f"{column}.").items():
                out.setdefault(key, inner)


class EntraFormat(JsonFamilyFormat):
    """Entra ID sign-ins and directory audits from Graph, Azure Monitor or Log Analytics."""

    name = "entra"
    description = "Microsoft Entra ID (Azure AD) sign-in and audit logs (Graph, Azure Monitor, Log Analytics)"
    source = AUDIT
    mappings = (AZURE_SIGNIN_MAPPING, AZURE_AUDIT_MAPPING)
    confidence = 90

    def matches(self, record: Mapping[str, Any]) -> bool:
        """A sign-in or audit record in one of the three shapes."""
        return entra_source(record) is not None

    def convert(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Flattened, with JSON-text objects expanded; a record of no known shape is an error."""
        target = entra_source(record)
        if target is None:
            raise ValueError("not an Entra ID sign-in or audit record")
        out = flatten(record)
        _expand_json_text(out)
        return target, out
