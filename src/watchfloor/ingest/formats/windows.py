"""Windows event logs: .evtx files, the evtx library's JSON rendering, and shipper JSON shapes.

All of them land in one `windows` source with the field names Windows itself uses and Sigma rules
speak: System values at the top (`EventID`, `Channel`, `Computer`, `Provider_Name`, `TimeCreated`...)
and every EventData / UserData item under its own name (`CommandLine`, `TargetUserName`...). The same
event therefore looks the same whether it came from an .evtx file, Winlogbeat, NXLog or Logstash.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from evtx import PyEvtxParser

from watchfloor.events import BatchBuilder, EventBatch, Quarantined, flatten
from watchfloor.ingest.formats._json import JsonFamilyFormat
from watchfloor.ingest.formats.windows_mapping import WINDOWS_MAPPING
from watchfloor.ingest.inputs import InputFile
from watchfloor.schema import SourceMapping

__all__ = ["EvtxFormat", "EvtxJsonFormat", "WindowsJsonFormat", "WinlogbeatFormat", "flatten_evtx_event"]

SOURCE = "windows"
EVTX_MAGIC = b"ElfFile\x00"
#: Consecutive unreadable records after which the rest of a damaged file is given up.
MAX_CONSECUTIVE_ERRORS = 1000


def _text(value: Any) -> Any:
    """`{"#text": v, "#attributes": ...}` → v; other values unchanged."""
    if isinstance(value, dict) and "#text" in value:
        return value["#text"]
    return value


def _add_data_items(out: dict[str, Any], data: Any, prefix: str = "") -> None:
    """EventData/UserData children to top-level fields, keeping the dotted path only on a clash."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "#attributes":
                continue
            if key == "#text":
                out[prefix.rstrip(".") or "Data"] = value
                continue
            if isinstance(value, dict) and "#text" not in value:
                _add_data_items(out, value, f"{prefix}{key}.")
                continue
            name = key if key not in out else f"{prefix}{key}"
            out[name] = _text(value)
    elif isinstance(data, list) or data is not None:
        out[prefix.rstrip(".") or "Data"] = data


def flatten_evtx_event(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten one evtx-rendered event (`{"Event": {"System": ..., "EventData": ...}}`)."""
    event = doc.get("Event", doc)
    system = event.get("System") or {}
    out: dict[str, Any] = {}
    for key, value in system.items():
        if isinstance(value, dict) and "#text" not in value:
            attributes = value.get("#attributes") or {}
            if key in ("TimeCreated",):
                out["TimeCreated"] = attributes.get("SystemTime")
                continue
            # Attributes are prefixed (`Provider_Name`, `Execution_ProcessID`): DuckDB names are
            # case-insensitive, and EventData has its own `ProcessId`.
            for attr, attr_value in attributes.items():
                out[f"{key}_{attr}"] = attr_value
        else:
            out[key] = _text(value)
    for section in ("EventData", "UserData"):
        data = event.get(section)
        if data is None:
            continue
        if section == "UserData" and isinstance(data, dict) and len(data) == 1:
            data = next(iter(data.values()))  # the single wrapper element, e.g. LogFileCleared
        _add_data_items(out, data)
    return out


class EvtxFormat:
    """Binary .evtx files, read with the `evtx` library; a damaged record never aborts the file."""

    name: ClassVar[str] = "evtx"
    description: ClassVar[str] = "Windows event log files (.evtx)"
    mappings: ClassVar[tuple[SourceMapping, ...]] = (WINDOWS_MAPPING,)

    def sniff(self, head: bytes, name: str) -> int:
        """The file header starts with the `ElfFile` magic."""
        return 100 if head.startswith(EVTX_MAGIC) else 0

    def read(self, source: InputFile, batch_size: int) -> Iterator[EventBatch | Quarantined]:
        """Every readable record; unreadable ones are quarantined with their position."""
        handle: Any = str(source.fs_path) if source.fs_path is not None else source.open()
        parser = PyEvtxParser(handle)
        builder = BatchBuilder(SOURCE, self.name, source.name)
        records: Iterator[Any] = iter(parser.records_json())
        position = 0
        errors = 0
        while True:
            position += 1
            try:
                record: dict[str, Any] = next(records)
            except StopIteration:
                break
            except Exception as exc:  # the Rust library raises plain runtime errors
                errors += 1
                yield Quarantined(source.name, position, f"unreadable EVTX record: {exc}", "", self.name)
                if errors >= MAX_CONSECUTIVE_ERRORS:
                    break
                continue
            errors = 0
            raw: str = record["data"]
            try:
                fields = flatten_evtx_event(orjson.loads(raw))
            except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
                yield Quarantined(source.name, position, f"unexpected EVTX record: {exc}", raw, self.name)
                continue
            fields.setdefault("EventRecordID", record.get("event_record_id"))
            builder.add(fields, raw, int(record.get("event_record_id") or position))
            if len(builder) >= batch_size:
                yield builder.build()
        if len(builder):
            yield builder.build()


class EvtxJsonFormat(JsonFamilyFormat):
    """The evtx library's JSON rendering (`evtx_dump -o json`/`jsonl`): `{"Event": {"System": ...}}`."""

    name = "evtx-json"
    description = "Windows events rendered as JSON by the evtx library"
    source = SOURCE
    mappings = (WINDOWS_MAPPING,)
    confidence = 95

    def matches(self, record: Mapping[str, Any]) -> bool:
        """An `Event` object with a `System` part."""
        event = record.get("Event")
        return isinstance(event, dict) and isinstance(event.get("System"), dict)

    def convert(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Flatten as for .evtx files."""
        return SOURCE, flatten_evtx_event(record)


class WinlogbeatFormat(JsonFamilyFormat):
    """Winlogbeat / Elastic Agent documents: `winlog.event_id`, `winlog.event_data.*`."""

    name = "winlogbeat"
    description = "Windows events shipped by Winlogbeat or Elastic Agent"
    source = SOURCE
    mappings = (WINDOWS_MAPPING,)
    confidence = 95

    def matches(self, record: Mapping[str, Any]) -> bool:
        """A `winlog` object with an event id."""
        winlog = record.get("winlog")
        return isinstance(winlog, dict) and "event_id" in winlog

    def convert(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Windows names at the top; the shipper's other fields kept, flattened."""
        winlog = record.get("winlog") or {}
        out: dict[str, Any] = {}
        for key, value in record.items():
            if key != "winlog":
                flatten({key: value}, out=out)
        out["EventID"] = winlog.get("event_id")
        out["Channel"] = winlog.get("channel")
        out["Computer"] = winlog.get("computer_name")
        out["Provider_Name"] = winlog.get("provider_name")
        out["EventRecordID"] = winlog.get("record_id")
        out["TimeCreated"] = record.get("@timestamp")
        for key in ("task", "opcode", "keywords", "version"):
            if key in winlog:
                out[key.capitalize()] = winlog[key]
        process = winlog.get("process") or {}
        if "pid" in process:
            out["Execution_ProcessID"] = process["pid"]
        _add_data_items(out, winlog.get("event_data") or {})
        _add_data_items(out, winlog.get("user_data") or {})
        return SOURCE, out


class WindowsJsonFormat(JsonFamilyFormat):
    """Flat Windows events from NXLog/Logstash/HELK (`EventID`, `Channel`, `Hostname`, `CommandLine`...).

    Also the Log Analytics `SecurityEvent`/`Event` table rows (`EventID`, `Computer`, `Channel`).
    """

    name = "windows-json"
    description = "Windows events as flat JSON lines (NXLog, Logstash, HELK, Log Analytics)"
    source = SOURCE
    mappings = (WINDOWS_MAPPING,)
    confidence = 90
    _CHANNEL_KEYS: ClassVar[tuple[str, ...]] = ("Channel", "SourceName", "EventLog", "log_name")

    def matches(self, record: Mapping[str, Any]) -> bool:
        """An event id beside a channel or provider name, and no `Event`/`winlog` wrapper."""
        if "Event" in record or "winlog" in record:
            return False
        has_id = "EventID" in record or "event_id" in record
        return has_id and any(k in record for k in (*self._CHANNEL_KEYS, "Computer", "Hostname"))

    def convert(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Producer names kept; Windows names added where a shipper renamed them."""
        out = flatten(record)
        if "EventID" not in out and "event_id" in out:
            out["EventID"] = out["event_id"]
        if "Channel" not in out:
            for key in self._CHANNEL_KEYS[1:]:
                if key in out and key != "SourceName":
                    out["Channel"] = out[key]
                    break
        if "Computer" not in out and "Hostname" in out:
            out["Computer"] = out["Hostname"]
        if "Provider_Name" not in out:
            provider = out.get("SourceName") or out.get("ProviderName")
            if provider is not None:
                out["Provider_Name"] = provider
        return SOURCE, out

    def convert_table(self, table: pa.Table) -> tuple[str, pa.Table] | None:
        """`convert` for a whole block of flat text columns (the fast line reader uses it).

        A null hides whether a record had the key at all, which `convert` asks; where that decides a
        value the block answers None and goes row by row instead.
        """
        out: pa.Table | None = table
        for target, origins in (("EventID", ("event_id",)), ("Channel", self._CHANNEL_KEYS[2:])):
            out = _alias(out, target, origins) if out is not None else None
        out = _alias(out, "Computer", ("Hostname",)) if out is not None else None
        if out is None:
            return None
        names = out.column_names
        if "SourceName" in names and pc.any(pc.is_in(out["SourceName"], _FALSY_TEXTS)).as_py():
            return None  # "0" or "false" may have been a falsy number or boolean
        absent = pa.nulls(out.num_rows, pa.string())
        source = out["SourceName"] if "SourceName" in names else absent
        given = pc.fill_null(pc.not_equal(source, ""), False)
        provider = pc.if_else(given, source, out["ProviderName"] if "ProviderName" in names else absent)
        if "Provider_Name" in names:
            if pc.any(pc.and_(pc.is_null(out["Provider_Name"]), pc.is_valid(provider))).as_py():
                return None
        elif provider.null_count < len(provider):
            out = out.append_column("Provider_Name", provider)
        return SOURCE, out


_FALSY_TEXTS = pa.array(["0", "false"], pa.string())


def _alias(table: pa.Table, target: str, origins: tuple[str, ...]) -> pa.Table | None:
    """`target` from the first origin key present, as `convert` does per record; None if ambiguous."""
    names = table.column_names
    present = [table[name] for name in origins if name in names]
    if target in names:
        if present and pc.any(pc.and_(pc.is_null(table[target]), pc.is_valid(pc.coalesce(*present)))).as_py():
            return None
        return table
    if not present:
        return table
    for i, earlier in enumerate(present[:-1]):
        if pc.any(pc.and_(pc.is_null(earlier), pc.is_valid(pc.coalesce(*present[i + 1 :])))).as_py():
            return None
    return table.append_column(target, pc.coalesce(*present) if len(present) > 1 else present[0])
