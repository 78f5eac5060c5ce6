"""Reading business context from CSV or JSON files, collecting every problem with its file, line and field.

A file holds one kind of record (assets, identities or business services), named by the caller, by the
file name (`assets.csv`, `identities.json`, `services.csv`) or by its key column (`hostname`,
`username`, `name`). CSV has a header row; JSON is an array of objects or JSON Lines. Every problem
is collected (not just the first), each as a `ContextError` naming the file, the line and the field,
so one pass over a spreadsheet export tells its owner everything to fix. Field names are matched
case-insensitively, with the spellings of `FIELD_ALIASES`; an unknown field is an error, because a
misspelt column would otherwise drop what it held without a word.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchfloor.context.values import (
    Asset,
    BusinessService,
    ContextKind,
    ContextRecord,
    Exposure,
    Identity,
    parse_criticality,
    parse_sensitivity,
)
from watchfloor.errors import Location, WatchfloorError

__all__ = ["FIELD_ALIASES", "ContextError", "ImportResult", "detect_kind", "parse_context", "parse_text"]


class ContextError(WatchfloorError):
    """A business-context record or file that cannot be used as written; `problems` lists them all."""

    def __init__(
        self, message: str, location: Location | None = None, problems: tuple[ContextError, ...] = ()
    ) -> None:
        super().__init__(message, location)
        self.problems = problems


#: Accepted spellings of each field, per kind: canonical name first.
FIELD_ALIASES: dict[ContextKind, dict[str, tuple[str, ...]]] = {
    ContextKind.ASSETS: {
        "hostname": ("host", "fqdn"),
        "addresses": ("address", "ip", "ips", "ip_addresses", "cidr"),
        "criticality": (),
        "data_sensitivity": ("sensitivity",),
        "owner": (),
        "business_service": ("service",),
        "crown_jewel": ("crown_jewels",),
        "exposure": ("expected_exposure",),
    },
    ContextKind.IDENTITIES: {
        "username": ("user", "account"),
        "aliases": ("alias", "emails", "email"),
        "vip": (),
        "criticality": (),
        "data_sensitivity": ("sensitivity",),
        "owner": ("manager",),
        "business_service": ("service",),
    },
    ContextKind.SERVICES: {
        "name": ("service", "business_service"),
        "criticality": (),
        "owner": (),
        "description": (),
    },
}
_KEY_FIELD = {
    ContextKind.ASSETS: "hostname",
    ContextKind.IDENTITIES: "username",
    ContextKind.SERVICES: "name",
}
_LIST_SPLIT = re.compile(r"[;,\s|]+")
_TRUE = {"true", "yes", "y", "1", "x"}
_FALSE = {"false", "no", "n", "0", ""}


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What a file held: its kind, the records that are valid, and every problem found."""

    path: str
    kind: ContextKind
    records: tuple[ContextRecord, ...]
    errors: tuple[ContextError, ...]


def _canonical(kind: ContextKind) -> dict[str, str]:
    names: dict[str, str] = {}
    for name, aliases in FIELD_ALIASES[kind].items():
        for spelling in (name, *aliases):
            names[spelling] = name
    return names


def detect_kind(path: Path, columns: list[str]) -> ContextKind | None:
    """The kind a file holds, from its name, else from its key column; None when neither says."""
    stem = path.name.lower()
    for prefix, kind in (
        ("asset", ContextKind.ASSETS),
        ("host", ContextKind.ASSETS),
        ("identit", ContextKind.IDENTITIES),
        ("user", ContextKind.IDENTITIES),
        ("service", ContextKind.SERVICES),
        ("business_service", ContextKind.SERVICES),
    ):
        if stem.startswith(prefix):
            return kind
    lowered = {c.strip().lower() for c in columns}
    for kind, field_name in _KEY_FIELD.items():
        if field_name in lowered or any(a in lowered for a in FIELD_ALIASES[kind][field_name]):
            return kind
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _list(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(_text(v).strip() for v in value if _text(v).strip())
    return tuple(v for v in _LIST_SPLIT.split(_text(value).strip()) if v)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a yes/no value (true, false, yes, no, 1, 0)")


def _networks(value: Any) -> tuple[str, ...]:
    found = []
    for item in _list(value):
        network = ipaddress.ip_network(item, strict=False)  # a ValueError names the bad address
        found.append(str(network.network_address) if network.num_addresses == 1 else str(network))
    return tuple(found)


def _exposure(value: Any) -> Exposure:
    text = _text(value).strip().lower() or Exposure.INTERNAL.value
    text = {"external": "internet", "public": "internet", "private": "internal"}.get(text, text)
    return Exposure(text)


# field → (record attribute, converter); an empty text value keeps the record's default.
_Converter = Callable[[Any], Any]
_CONVERT: dict[ContextKind, dict[str, tuple[str, _Converter]]] = {
    ContextKind.ASSETS: {
        "hostname": ("hostname", lambda v: _text(v).strip()),
        "addresses": ("addresses", _networks),
        "criticality": ("criticality", parse_criticality),
        "data_sensitivity": ("sensitivity", parse_sensitivity),
        "owner": ("owner", lambda v: _text(v).strip()),
        "business_service": ("service", lambda v: _text(v).strip()),
        "crown_jewel": ("crown_jewel", _flag),
        "exposure": ("exposure", _exposure),
    },
    ContextKind.IDENTITIES: {
        "username": ("username", lambda v: _text(v).strip()),
        "aliases": ("aliases", _list),
        "vip": ("vip", _flag),
        "criticality": ("criticality", parse_criticality),
        "data_sensitivity": ("sensitivity", parse_sensitivity),
        "owner": ("owner", lambda v: _text(v).strip()),
        "business_service": ("service", lambda v: _text(v).strip()),
    },
    ContextKind.SERVICES: {
        "name": ("name", lambda v: _text(v).strip()),
        "criticality": ("criticality", parse_criticality),
        "owner": ("owner", lambda v: _text(v).strip()),
        "description": ("description", lambda v: _text(v).strip()),
    },
}
_BUILD: dict[ContextKind, Callable[..., ContextRecord]] = {
    ContextKind.ASSETS: Asset,
    ContextKind.IDENTITIES: Identity,
    ContextKind.SERVICES: BusinessService,
}


def _record(
    kind: ContextKind, raw: Mapping[str, Any], where: Location, errors: list[ContextError]
) -> ContextRecord | None:
    names = _canonical(kind)
    values: dict[str, Any] = {}
    bad = False
    for column, value in raw.items():
        name = names.get(_text(column).strip().lower())
        at = Location(where.path, where.line, _text(column))
        if name is None:
            known = ", ".join(FIELD_ALIASES[kind])
            errors.append(ContextError(f"unknown field for {kind.value} (known: {known})", at))
            bad = True
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        attribute, convert = _CONVERT[kind][name]
        try:
            values[attribute] = convert(value)
        except ValueError as exc:
            errors.append(ContextError(str(exc), at))
            bad = True
    key = _KEY_FIELD[kind]
    if _CONVERT[kind][key][0] not in values:
        errors.append(ContextError(f"missing {key}", Location(where.path, where.line, key)))
        return None
    if bad:
        return None
    try:
        return _BUILD[kind](**values, origin=where)
    except ValueError as exc:
        errors.append(ContextError(str(exc), where))
        return None


def _csv_rows(text: str, path: str) -> Iterator[tuple[Location, Mapping[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        if not any(_text(v).strip() for v in row.values()):
            continue
        extra = row.pop(None, None)  # type: ignore[call-overload]
        line = reader.line_num
        if extra:
            row["<extra cells>"] = ",".join(extra)
        yield Location(path, line), row


def _json_rows(text: str, path: str) -> Iterator[tuple[Location, Any]]:
    """Objects of a JSON array (each with the line it starts on) or of JSON Lines."""
    decoder = json.JSONDecoder()
    stripped = text.lstrip()
    offset = len(text) - len(stripped)
    if not stripped.startswith("["):
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield Location(path, number), json.loads(line)
        return
    pos = offset + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            raise json.JSONDecodeError("unterminated array", text, pos)
        if text[pos] == "]":
            return
        value, end = decoder.raw_decode(text, pos)
        yield Location(path, text.count("\n", 0, pos) + 1), value
        pos = end
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos >= len(text) or text[pos] != "]":
            raise json.JSONDecodeError("expected ',' or ']'", text, pos)


def parse_text(text: str, path: str, kind: ContextKind | None = None) -> ImportResult:
    """Parse one file's text; `path` names it in errors and decides CSV (`.csv`) or JSON."""
    errors: list[ContextError] = []
    is_json = path.lower().endswith((".json", ".jsonl", ".ndjson"))
    rows: list[tuple[Location, Any]] = []
    try:
        rows = list(_json_rows(text, path) if is_json else _csv_rows(text, path))
    except json.JSONDecodeError as exc:
        errors.append(ContextError(f"not valid JSON: {exc.msg}", Location(path, exc.lineno)))
    except csv.Error as exc:
        errors.append(ContextError(f"not valid CSV: {exc}", Location(path)))
    columns = sorted({_text(c) for _, row in rows if isinstance(row, Mapping) for c in row})
    kind = kind or detect_kind(Path(path), columns)
    if kind is None:
        raise ContextError(
            "cannot tell assets, identities or services apart: name the kind (--kind) or the key column",
            Location(path),
        )
    if not is_json:  # a CSV column is checked once, on the header line, not on every row
        names = _canonical(kind)
        unknown = [c for c in columns if c.strip().lower() not in names and c != "<extra cells>"]
        for column in unknown:
            known = ", ".join(FIELD_ALIASES[kind])
            errors.append(
                ContextError(f"unknown column for {kind.value} (known: {known})", Location(path, 1, column))
            )
        rows = [(where, {k: v for k, v in row.items() if k not in unknown}) for where, row in rows]
    records: list[ContextRecord] = []
    seen: dict[str, int | None] = {}
    for where, row in rows:
        if not isinstance(row, Mapping):
            errors.append(ContextError("each record must be an object", where))
            continue
        record = _record(kind, row, where, errors)
        if record is None:
            continue
        if record.key in seen:
            key_field = _KEY_FIELD[kind]
            errors.append(
                ContextError(
                    f"duplicate {key_field} {record.key!r} (first on line {seen[record.key]})", where
                )
            )
            continue
        seen[record.key] = where.line
        records.append(record)
    return ImportResult(path, kind, tuple(records), tuple(errors))


def parse_context(path: Path, kind: ContextKind | None = None) -> ImportResult:
    """Parse a CSV or JSON file of assets, identities or business services."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeError) as exc:
        raise ContextError(f"cannot read: {exc}", Location(str(path))) from exc
    return parse_text(text, str(path), kind)
