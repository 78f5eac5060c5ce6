"""Pure parsing of Sysmon for Linux XML events, and how they fill the OCSF core.

Sysmon for Linux writes each event as one Windows-style XML `<Event>` into syslog. Its fields get the
names the Windows Sysmon source uses (`EventID`, `Image`, `CommandLine`, `ParentImage`, `User`,
`TargetFilename`...), so Sigma rules for Linux process creation and the Windows mapping of Sysmon
event ids apply unchanged.

The XML comes from the network or from files anyone can write, so documents with a DOCTYPE or entity
declarations are refused before parsing (the standard parser would expand internal entities, which is
how "billion laughs" payloads exhaust memory); Sysmon never writes either.

Collectors cut long messages (Log Analytics stores about 2 KB of a syslog message), which cuts the XML
of exactly the events that matter most, process creations with long command lines. Such an event is
kept rather than quarantined: the complete `<Data>` items are read, the cut one keeps its partial text,
and `xml_truncated` names it. Sysmon for Linux also writes entity references without their `;`
(`&lt unknown process&gt `); those are repaired. XML that is damaged in any other way is refused.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import unescape

from watchfloor.ingest.formats.windows_mapping import WINDOWS_MAPPING

__all__ = ["SYSMON_LINUX_MAPPING", "find_sysmon_xml", "parse_sysmon_xml"]

_UNSAFE = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_NAMESPACE = re.compile(r"^\{[^}]*\}")
_CUT_ITEM = re.compile(r'<Data Name="([^"<>]+)">([^<]*)$')
_XML_ENTITIES = {"&quot;": '"', "&apos;": "'"}
#: An `&` that does not start a complete reference; a known entity name right after it lost its `;`
#: (Sysmon wrote a space in its place: `&lt unknown process&gt ` means `<unknown process>`).
_BARE_AMPERSAND = re.compile(r"&(?!(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);)(?:(lt|gt|amp|quot|apos) ?)?")
_SYSTEM_ATTRIBUTES = {
    "TimeCreated": {"SystemTime": "TimeCreated"},
    # Not `ProcessID`: the store's SQL is case-insensitive and EventData has `ProcessId`.
    "Execution": {"ProcessID": "Execution_ProcessID", "ThreadID": "Execution_ThreadID"},
    "Security": {"UserId": "UserID", "UserID": "UserID"},
    "Provider": {"Name": "Provider_Name", "Guid": "Provider_Guid"},
}

SYSMON_LINUX_MAPPING = dataclasses.replace(
    WINDOWS_MAPPING,
    source="sysmon_linux",
    product="Sysmon for Linux",
    time=("TimeCreated", "UtcTime", "TimeGenerated", "syslog.timestamp"),
    hostname=("Computer", "HostName", "syslog.hostname"),
    product_key=(),
    products={},
)


def _local(tag: str) -> str:
    return _NAMESPACE.sub("", tag)


def _repair_reference(match: re.Match[str]) -> str:
    return f"&{match.group(1)};" if match.group(1) else "&amp;"


def _parse_truncated(text: str, error: ET.ParseError) -> tuple[ET.Element, dict[str, str | None]]:
    """An event cut inside its EventData: the complete items, plus the cut one's partial text."""
    end = text.rfind("</Data>")
    if end < 0 or text.rstrip().endswith("</Event>") or "</System>" not in text[:end]:
        raise ValueError(f"invalid Sysmon XML: {error}") from error
    try:
        root = ET.fromstring(text[: end + len("</Data>")] + "</EventData></Event>")
    except ET.ParseError as exc:
        raise ValueError(f"invalid Sysmon XML: {error}") from exc
    extra: dict[str, str | None] = {"xml_truncated": "true"}
    cut = _CUT_ITEM.search(text, end)
    if cut is not None:
        extra[cut.group(1)] = unescape(cut.group(2), _XML_ENTITIES)
        extra["xml_truncated"] = cut.group(1)
    return root, extra


def parse_sysmon_xml(text: str) -> dict[str, str | None]:
    """Flat fields of one `<Event>` document; `ValueError` with a reason for anything else."""
    if _UNSAFE.search(text):
        raise ValueError("XML with DOCTYPE or ENTITY declarations refused")
    text = text.strip()
    extra: dict[str, str | None] = {}
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        repaired = _BARE_AMPERSAND.sub(_repair_reference, text)
        try:
            root = ET.fromstring(repaired)
        except ET.ParseError:
            root, extra = _parse_truncated(repaired, exc)
    if _local(root.tag) != "Event":
        raise ValueError(f"XML root is <{_local(root.tag)}>, not <Event>")
    fields: dict[str, str | None] = {}
    system = next((c for c in root if _local(c.tag) == "System"), None)
    if system is None:
        raise ValueError("Sysmon event without <System>")
    for child in system:
        name = _local(child.tag)
        known = _SYSTEM_ATTRIBUTES.get(name)
        for attribute, value in child.attrib.items():
            fields[known.get(attribute, f"{name}_{attribute}") if known else f"{name}_{attribute}"] = value
        if child.text is not None and child.text.strip():
            fields[name] = child.text.strip()
    for section in root:
        if _local(section.tag) not in ("EventData", "UserData"):
            continue
        for index, item in enumerate(section, start=1):
            name = item.get("Name") or _local(item.tag) or f"Data{index}"
            taken = name.lower() in {k.lower() for k in fields}
            fields[f"EventData.{name}" if taken else name] = item.text
    if "EventID" not in fields:
        raise ValueError("Sysmon event without <EventID>")
    for extra_key, extra_value in extra.items():
        fields.setdefault(extra_key, extra_value)
    return fields


def find_sysmon_xml(message: str) -> int:
    """Where a Sysmon `<Event>` document starts in a message, or -1."""
    index = message.find("<Event")
    if index < 0 or index > 80:
        return -1
    after = message[index + 6 : index + 7]
    return index if after in (">", " ") else -1
