"""Suppressions and exceptions per rule: who asked, why, and until when; applied before alerts exist.

An entry names a rule id (or `*` for every rule), an owner, a reason and an expiry date (required, at
most `MAX_DAYS` ahead when created), and optionally conditions on event fields (`host equals
WS-042`, `CommandLine contains backup.ps1`). With no condition it silences the whole rule; with
conditions it is an exception that drops only the matches where every condition holds. An entry
applies through the end of its expiry day (UTC); after that it no longer applies and is listed as
expired, so a forgotten exception cannot hide an attack for ever.

The entries live in `<data>/suppressions/suppressions.yml`, a YAML list people may edit by hand; a
broken entry is reported with its position and skipped (never applied). Every change made through
`SuppressionStore` is appended to `changes.jsonl` beside it, the record of who silenced what. (Incident
audit lives in `cases`, a layer above; this log is what it can read.)

Field names in conditions are the stored producer names of the matched event's source view
(`CommandLine`, `id.orig_h`); `host`, `user`, `src_ip` and `dst_ip` are the alert's entities, for
every source. Comparisons are case-insensitive, as Sigma's are.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from watchfloor.detect.compile_sql import OCSF, quote_ident, sql_string
from watchfloor.detect.correlate_window import CorrelationHit
from watchfloor.detect.engine import Match
from watchfloor.detect.errors import RuleError
from watchfloor.errors import Location
from watchfloor.store import EventStore

__all__ = [
    "ENTITY_FIELDS",
    "MAX_DAYS",
    "Condition",
    "Suppression",
    "SuppressionSet",
    "SuppressionStore",
    "parse_condition",
]

#: Longest an entry may run when it is created, in days.
MAX_DAYS = 365
#: Fields every match carries whatever its source (the alert's entities).
ENTITY_FIELDS = frozenset({"host", "user", "src_ip", "dst_ip"})
SUPPRESSIONS_FILE = "suppressions.yml"
CHANGES_FILE = "changes.jsonl"
_OPS = ("equals", "contains")
#: Event ids per statement when reading matched events' fields.
_UID_CHUNK = 1000
_WHERE = re.compile(r"^\s*([^=~\s][^=~]*?)\s*(=|~)(.*)$")
_HEADER = (
    "# Watchfloor suppressions and exceptions (see docs/detection.md). Each entry: id, rule (an id or\n"
    "# '*'), owner, reason, expires (YYYY-MM-DD, inclusive), created, and optional where conditions\n"
    "# ({field: NAME, equals: VALUE} or {field: NAME, contains: VALUE}, all must hold).\n"
)


@dataclass(frozen=True, slots=True)
class Condition:
    """One test on a matched event's field: equal to, or containing, a value (case-insensitive)."""

    field: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"condition operator must be one of {', '.join(_OPS)}, not {self.op!r}")
        if not self.field:
            raise ValueError("condition field is empty")

    def holds(self, fields: Mapping[str, str | None]) -> bool:
        """Whether the event's value satisfies the condition; a missing field never does."""
        actual = fields.get(self.field)
        if actual is None:
            return False
        if self.op == "equals":
            return actual.casefold() == self.value.casefold()
        return self.value.casefold() in actual.casefold()

    def as_dict(self) -> dict[str, str]:
        """The stored shape."""
        return {"field": self.field, self.op: self.value}

    def __str__(self) -> str:
        return f"{self.field}{'=' if self.op == 'equals' else '~'}{self.value}"


def parse_condition(text: str) -> Condition:
    """`FIELD=VALUE` (equals) or `FIELD~VALUE` (contains), as given to `--where`."""
    found = _WHERE.match(text)
    if not found:
        raise RuleError(f"--where {text!r}: expected FIELD=VALUE or FIELD~VALUE")
    name, op, value = found.groups()
    return Condition(name, "equals" if op == "=" else "contains", value)


@dataclass(frozen=True, slots=True)
class Suppression:
    """One suppression (no conditions) or exception (with conditions) of one rule, or of all (`*`)."""

    id: str
    rule_id: str
    owner: str
    reason: str
    expires: dt.date
    created: str
    conditions: tuple[Condition, ...] = ()

    def __post_init__(self) -> None:
        for name in ("id", "rule_id", "owner", "reason"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name.replace('_id', '')} is required")

    def active(self, today: dt.date) -> bool:
        """Whether it still applies on `today` (the expiry day included)."""
        return today <= self.expires

    def covers(self, rule_id: str) -> bool:
        """Whether it is about this rule."""
        return self.rule_id in ("*", rule_id)

    def silences(self, fields: Mapping[str, str | None]) -> bool:
        """Whether a match with these field values is dropped (every condition holds)."""
        return all(c.holds(fields) for c in self.conditions)

    def as_dict(self, today: dt.date | None = None) -> dict[str, Any]:
        """The stored shape; with `today`, also the `status` (active or expired) for listings."""
        doc: dict[str, Any] = {
            "id": self.id,
            "rule": self.rule_id,
            "owner": self.owner,
            "reason": self.reason,
            "expires": self.expires.isoformat(),
            "created": self.created,
        }
        if self.conditions:
            doc["where"] = [c.as_dict() for c in self.conditions]
        if today is not None:
            doc["status"] = "active" if self.active(today) else "expired"
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Suppression:
        """Read one stored entry; raises ValueError naming what is wrong."""
        if not isinstance(doc, Mapping):
            raise ValueError("an entry must be a mapping")
        missing = [k for k in ("id", "rule", "owner", "reason", "expires") if not doc.get(k)]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        expires = doc["expires"]
        if isinstance(expires, dt.datetime):
            expires = expires.date()
        elif not isinstance(expires, dt.date):
            expires = dt.date.fromisoformat(str(expires))
        where = doc.get("where") or []
        if not isinstance(where, list):
            raise ValueError("where must be a list of conditions")
        return cls(
            id=str(doc["id"]),
            rule_id=str(doc["rule"]),
            owner=str(doc["owner"]),
            reason=str(doc["reason"]),
            expires=expires,
            created=str(doc.get("created") or ""),
            conditions=tuple(_condition(c) for c in where),
        )


def _condition(doc: Any) -> Condition:
    if not isinstance(doc, Mapping) or "field" not in doc:
        raise ValueError(f"a condition is {{field: NAME, equals|contains: VALUE}}, not {doc!r}")
    ops = [op for op in _OPS if op in doc]
    if len(ops) != 1:
        raise ValueError(f"condition on {doc['field']!r} needs exactly one of equals or contains")
    return Condition(str(doc["field"]), ops[0], str(doc[ops[0]]))


@dataclass(frozen=True, slots=True)
class SuppressionSet:
    """The entries of a store as read at one moment, and the entries that could not be read."""

    items: tuple[Suppression, ...] = ()
    errors: tuple[RuleError, ...] = ()

    def active(self, today: dt.date | None = None) -> list[Suppression]:
        """Entries that apply on `today` (default: today in UTC)."""
        day = today or dt.datetime.now(dt.UTC).date()
        return [s for s in self.items if s.active(day)]

    def filter_matches(
        self,
        matches: Sequence[Match],
        store: EventStore | None,
        today: dt.date | None = None,
    ) -> tuple[list[Match], Counter[str]]:
        """Matches no active entry silences, and how many were dropped per rule.

        Field values beyond the entities are read from `store` for the matched events only, and only
        for rules with an exception that asks for them.
        """
        rules = {m.rule_id for m in matches}
        live = [s for s in self.active(today) if any(s.covers(r) for r in rules)]
        if not live:
            return list(matches), Counter()
        wanted = {c.field for s in live for c in s.conditions} - ENTITY_FIELDS
        needing = [m for m in matches if any(s.covers(m.rule_id) and s.conditions for s in live)]
        values = _event_fields(store, needing, wanted) if wanted and store is not None else {}
        kept: list[Match] = []
        dropped: Counter[str] = Counter()
        for match in matches:
            fields = {
                **values.get(match.event_uid, {}),
                "host": match.host,
                "user": match.user,
                "src_ip": match.src_ip,
                "dst_ip": match.dst_ip,
            }
            if any(s.covers(match.rule_id) and s.silences(fields) for s in live):
                dropped[match.rule_id] += 1
            else:
                kept.append(match)
        return kept, dropped

    def filter_hits(
        self, hits: Sequence[CorrelationHit], today: dt.date | None = None
    ) -> tuple[list[CorrelationHit], Counter[str]]:
        """Correlation episodes no active entry silences, and how many were dropped per rule.

        An episode's fields are its group-by values and the entities every one of its events shares.
        """
        live = self.active(today)
        if not live:
            return list(hits), Counter()
        kept: list[CorrelationHit] = []
        dropped: Counter[str] = Counter()
        for hit in hits:
            fields: dict[str, str | None] = dict(hit.group)
            for name in ENTITY_FIELDS:
                values = {getattr(m, name) for m in hit.matches}
                if len(values) == 1:
                    fields.setdefault(name, values.pop())
            if any(s.covers(hit.rule_id) and s.silences(fields) for s in live):
                dropped[hit.rule_id] += 1
            else:
                kept.append(hit)
        return kept, dropped


def _event_fields(
    store: EventStore, matches: Sequence[Match], wanted: set[str]
) -> dict[str, dict[str, str | None]]:
    """The wanted producer fields of the matched events, by event uid.

    Read through the store's engine-neutral `query` (a column probe per view, then the matched events
    in chunks of `_UID_CHUNK` ids), so any `EventStore` serves.
    """
    by_source: dict[str, set[str]] = defaultdict(set)
    for match in matches:
        by_source[match.source].add(match.event_uid)
    out: dict[str, dict[str, str | None]] = {}
    for source, uids in sorted(by_source.items()):
        view = quote_ident(source)
        columns = set(store.query(f"SELECT * FROM {view} LIMIT 0").schema.names)
        present = sorted(wanted & columns)
        if not present:
            continue
        picks = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR)" for c in present)
        ordered = sorted(uids)
        for start in range(0, len(ordered), _UID_CHUNK):
            listed = ", ".join(sql_string(u) for u in ordered[start : start + _UID_CHUNK])
            table = store.query(
                f"SELECT {OCSF}.metadata_uid, {picks} FROM {view} WHERE {OCSF}.metadata_uid IN ({listed})"
            )
            for row in zip(*(c.to_pylist() for c in table.columns), strict=True):
                out[row[0]] = dict(zip(present, row[1:], strict=True))
    return out


@dataclass(slots=True)
class SuppressionStore:
    """The installation's entries (`suppressions.yml`) and the append-only log of changes to them."""

    root: Path
    clock: Callable[[], dt.datetime] | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        """The human-editable YAML list."""
        return self.root / SUPPRESSIONS_FILE

    @property
    def log_path(self) -> Path:
        """One JSON line per change: when, what (add or remove), and the entry."""
        return self.root / CHANGES_FILE

    def _now(self) -> dt.datetime:
        return self.clock() if self.clock is not None else dt.datetime.now(dt.UTC)

    def read(self) -> SuppressionSet:
        """Every entry; unreadable ones are reported with their position and left out."""
        if not self.path.is_file():
            return SuppressionSet()
        where = str(self.path)
        try:
            docs = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            return SuppressionSet(
                errors=(RuleError(f"unreadable suppressions: {exc}", Location(where, line)),)
            )
        if docs is None:
            return SuppressionSet()
        if not isinstance(docs, list):
            return SuppressionSet(errors=(RuleError("expected a YAML list of entries", Location(where)),))
        items: list[Suppression] = []
        errors: list[RuleError] = []
        for number, doc in enumerate(docs, start=1):
            try:
                items.append(Suppression.from_dict(doc))
            except (ValueError, TypeError) as exc:
                errors.append(RuleError(f"entry {number}: {exc}", Location(where)))
        return SuppressionSet(tuple(items), tuple(errors))

    def _write(self, items: Iterable[Suppression]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        body = yaml.safe_dump([s.as_dict() for s in items], sort_keys=False, allow_unicode=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(_HEADER + ("" if body.strip() == "[]" else body), encoding="utf-8")
        temporary.replace(self.path)

    def _log(self, action: str, entry: Suppression) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        record = {"time": self._now().isoformat(), "action": action, "entry": entry.as_dict()}
        with self.log_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def add(
        self,
        rule_id: str,
        owner: str,
        reason: str,
        expires: dt.date,
        conditions: Iterable[Condition] = (),
    ) -> Suppression:
        """Record a new entry; the expiry must be today or later, and at most `MAX_DAYS` ahead."""
        now = self._now()
        today = now.date()
        if expires < today:
            raise RuleError(f"expiry {expires.isoformat()} is in the past")
        if expires > today + dt.timedelta(days=MAX_DAYS):
            raise RuleError(f"expiry {expires.isoformat()} is more than {MAX_DAYS} days ahead")
        current = self.read()
        if current.errors:
            raise current.errors[0]
        try:
            entry = Suppression(
                id=f"sup-{secrets.token_hex(4)}",
                rule_id=rule_id.strip(),
                owner=owner.strip(),
                reason=reason.strip(),
                expires=expires,
                created=now.isoformat(timespec="seconds"),
                conditions=tuple(conditions),
            )
        except ValueError as exc:
            raise RuleError(str(exc)) from exc
        self._write([*current.items, entry])
        self._log("add", entry)
        return entry

    def remove(self, suppression_id: str) -> Suppression:
        """Delete one entry by id (expired or not); the removal is logged."""
        current = self.read()
        if current.errors:
            raise current.errors[0]
        found = [s for s in current.items if s.id == suppression_id]
        if not found:
            raise RuleError(f"no suppression {suppression_id!r}", Location(str(self.path)))
        self._write([s for s in current.items if s.id != suppression_id])
        self._log("remove", found[0])
        return found[0]

    def changes(self) -> list[dict[str, Any]]:
        """The change log, oldest first."""
        if not self.log_path.is_file():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
