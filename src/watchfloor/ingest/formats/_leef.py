"""Pure IBM QRadar LEEF 1.0 / 2.0 parsing and how LEEF events fill the OCSF core.

LEEF 1.0: `LEEF:1.0|Vendor|Product|Version|EventID|attr=value<TAB>attr=value...`.
LEEF 2.0 adds a delimiter field after the event id: one character (`^`), or its code as `0x5E`/`x5E`;
an empty or absent delimiter field means tab. Attribute names are kept as written (`src`, `usrName`,
`devTime`, `sev`...), the header gets `leefVersion`, `deviceVendor`, `deviceProduct`, `deviceVersion`
and `eventId`.
"""

from __future__ import annotations

import re

from watchfloor.ingest.formats._cef import VENDOR_SEVERITY_IDS
from watchfloor.schema import SourceMapping

__all__ = ["LEEF_MAPPING", "find_leef", "parse_leef"]

_LEEF_START = re.compile(r"LEEF:[12]\.0\|")
_HEADER = ("deviceVendor", "deviceProduct", "deviceVersion", "eventId")
_HEX_DELIMITER = re.compile(r"^(?:0?[xX])([0-9A-Fa-f]{2,4})$")

LEEF_MAPPING = SourceMapping(
    source="leef",
    product="LEEF",
    time=("devTime", "syslog.timestamp"),
    user=("usrName", "accountName", "srcUserName"),
    src_ip=("src", "srcPreNAT"),
    src_port=("srcPort",),
    dst_ip=("dst", "dstPreNAT"),
    dst_port=("dstPort",),
    hostname=("identHostName", "syslog.hostname", "srcHostName"),
    activity=("eventId",),
    status=("outcome", "result"),
    severity=("sev",),
    severity_ids=VENDOR_SEVERITY_IDS,
)


def _delimiter(field: str) -> str | None:
    """The attribute delimiter a LEEF 2.0 delimiter field names, or None if it is not one."""
    if field == "":
        return "\t"
    if len(field) == 1:
        return field
    code = _HEX_DELIMITER.match(field)
    return chr(int(code.group(1), 16)) if code is not None else None


def parse_leef(text: str) -> dict[str, str | None]:
    """Producer fields of one LEEF record (starting at `LEEF:`); `ValueError` with a reason otherwise."""
    text = text.strip("\r\n")
    if not text.startswith("LEEF:"):
        raise ValueError("not a LEEF record (no 'LEEF:' prefix)")
    version, _, rest = text[5:].partition("|")
    if version not in ("1.0", "2.0", "1", "2"):
        raise ValueError(f"unsupported LEEF version {version!r}")
    parts = rest.split("|", 4)
    if len(parts) < 5:
        raise ValueError(f"LEEF header has {len(parts)} of 5 '|'-separated fields")
    fields: dict[str, str | None] = {"leefVersion": version, **dict(zip(_HEADER, parts[:4], strict=True))}
    attributes = parts[4]
    delimiter = "\t"
    if version.startswith("2"):
        head, bar, tail = attributes.partition("|")
        chosen = _delimiter(head) if bar else None
        if chosen is not None:
            delimiter, attributes = chosen, tail
    for item in attributes.split(delimiter):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"LEEF attribute {item[:40]!r} is not key=value")
        name = key.strip()
        fields[name if name not in fields else f"attr.{name}"] = value
    return fields


def find_leef(message: str, within: int = 80) -> int:
    """Where a LEEF record starts in a syslog message, or -1."""
    match = _LEEF_START.search(message, 0, within + 10)
    return match.start() if match is not None and match.start() <= within else -1
