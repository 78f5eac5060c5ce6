r"""Pure ArcSight CEF parsing and how CEF events fill the OCSF core.

`CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`. The
seven header fields get ArcSight's own dictionary names (`deviceVendor`, `deviceEventClassId`...);
extension keys are kept as written (`src`, `spt`, `suser`, `cs1Label`...), so analysts and vendor
documentation speak the same names. Header values escape `\|` and `\\`; extension values escape
`\=`, `\\`, `\n` and `\r` and may contain unescaped spaces.
"""

from __future__ import annotations

import re

from watchfloor.schema import SourceMapping

__all__ = ["CEF_HEADER_FIELDS", "CEF_MAPPING", "VENDOR_SEVERITY_IDS", "find_cef", "parse_cef"]

CEF_HEADER_FIELDS = (
    "cefVersion",
    "deviceVendor",
    "deviceProduct",
    "deviceVersion",
    "deviceEventClassId",
    "name",
    "severity",
)
_CEF_START = re.compile(r"CEF:\d+\|")
#: An extension key: word characters (custom labels use dots and brackets), then `=`.
_EXT_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z0-9_.\[\]-]+)=")
_EXT_ESCAPE = re.compile(r"\\([\\=nr|])")
_EXT_ESCAPES = {"\\": "\\", "=": "=", "n": "\n", "r": "\r", "|": "|"}

#: CEF severity (0-10 or words) and LEEF `sev` (1-10) to OCSF severity ids (ArcSight's bands).
VENDOR_SEVERITY_IDS: dict[str, int] = {
    **{str(i): 2 for i in range(4)},
    **{str(i): 3 for i in range(4, 7)},
    "7": 4,
    "8": 4,
    "9": 5,
    "10": 5,
    "unknown": 0,
    "low": 2,
    "medium": 3,
    "high": 4,
    "very-high": 5,
    "very high": 5,
}

CEF_MAPPING = SourceMapping(
    source="cef",
    product="CEF",
    time=("rt", "end", "start", "deviceReceiptTime", "syslog.timestamp"),
    user=("suser", "duser"),
    src_ip=("src", "sourceTranslatedAddress", "c6a2"),
    src_port=("spt",),
    dst_ip=("dst", "destinationTranslatedAddress", "c6a3"),
    dst_port=("dpt",),
    hostname=("dvchost", "syslog.hostname", "shost", "dvc"),
    process_path=("sproc", "dproc"),
    process_pid=("spid", "dpid"),
    file_path=("filePath", "fname"),
    activity=("act", "name"),
    status=("outcome",),
    severity=("severity",),
    severity_ids=VENDOR_SEVERITY_IDS,
)


def _split_header(text: str) -> tuple[list[str], str]:
    """The seven pipe-separated header fields (unescaped) and the extension text after them."""
    parts: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text) and len(parts) < 7:
        ch = text[index]
        if ch == "\\" and index + 1 < len(text) and text[index + 1] in "|\\":
            current.append(text[index + 1])
            index += 2
            continue
        if ch == "|":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        index += 1
    if len(parts) < 7:
        raise ValueError(f"CEF header has {len(parts)} of 7 '|'-separated fields")
    return parts, text[index:]


def _unescape(value: str) -> str:
    return _EXT_ESCAPE.sub(lambda m: _EXT_ESCAPES[m.group(1)], value)


def parse_extension(text: str) -> dict[str, str | None]:
    """`key=value key2=value with spaces` → fields; a value runs until the next ` key=`."""
    fields: dict[str, str | None] = {}
    keys = list(_EXT_KEY.finditer(text))
    if text.strip() and (not keys or text[: keys[0].start()].strip()):
        raise ValueError("CEF extension does not start with key=value")
    for position, match in enumerate(keys):
        end = keys[position + 1].start() if position + 1 < len(keys) else len(text)
        value = text[match.end() : end]
        value = value[:-1] if position + 1 < len(keys) and value.endswith(" ") else value.rstrip()
        fields[match.group(1)] = _unescape(value) if value != "" else None
    return fields


def parse_cef(text: str) -> dict[str, str | None]:
    """Producer fields of one CEF record (starting at `CEF:`); `ValueError` with a reason otherwise."""
    text = text.strip()
    if not text.startswith("CEF:"):
        raise ValueError("not a CEF record (no 'CEF:' prefix)")
    header, extension = _split_header(text[4:])
    if not header[0].strip().isdigit():
        raise ValueError(f"CEF version {header[0]!r} is not a number")
    fields: dict[str, str | None] = dict(zip(CEF_HEADER_FIELDS, header, strict=True))
    for key, value in parse_extension(extension).items():
        fields[key if key not in fields else f"ext.{key}"] = value
    return fields


def find_cef(message: str, within: int = 80) -> int:
    """Where a CEF record starts in a syslog message (some senders put a host name first), or -1."""
    match = _CEF_START.search(message, 0, within + 8)
    return match.start() if match is not None and match.start() <= within else -1
