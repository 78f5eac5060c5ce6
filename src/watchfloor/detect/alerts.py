"""Alerts as OCSF Detection Findings, kept as JSON lines and deduplicated by (rule, event).

One rule matching one event gives exactly one alert however many times detection runs over it: the
alert's uid is derived from the pair, and the store skips uids it already holds. A correlation alert
names every event of its window as evidence; its uid is derived from the rule, the group and the
window's first event, so the same episode found by two runs is stored once. Base rules silenced by a
correlation (`Rule.generate` False) raise no alerts of their own.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchfloor.detect.correlate_window import CorrelationHit
from watchfloor.detect.engine import Match
from watchfloor.detect.errors import RuleError
from watchfloor.detect.loader import Rule
from watchfloor.errors import Location

__all__ = [
    "Alert",
    "AlertStore",
    "alert_uid",
    "attack_from_tags",
    "build_alerts",
    "correlation_alerts",
    "correlation_key",
]

DETECTION_FINDING_CLASS = 2004
FINDINGS_CATEGORY = 2
_SEVERITY = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
_TACTICS = {
    "reconnaissance": "TA0043",
    "resource_development": "TA0042",
    "initial_access": "TA0001",
    "execution": "TA0002",
    "persistence": "TA0003",
    "privilege_escalation": "TA0004",
    "defense_evasion": "TA0005",
    "credential_access": "TA0006",
    "discovery": "TA0007",
    "lateral_movement": "TA0008",
    "collection": "TA0009",
    "command_and_control": "TA0011",
    "exfiltration": "TA0010",
    "impact": "TA0040",
}
_TECHNIQUE = re.compile(r"^t\d{4}(\.\d{3})?$")
#: Longest correlation key kept as text (incident management stores up to 512 characters).
_KEY_LIMIT = 400


def attack_from_tags(tags: Iterable[str]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """ATT&CK tactics and techniques named by Sigma tags (`attack.execution`, `attack.t1059.001`)."""
    tactics: list[dict[str, str]] = []
    techniques: list[dict[str, str]] = []
    for tag in tags:
        namespace, _, name = tag.partition(".")
        if namespace != "attack":
            continue
        key = name.replace("-", "_")
        if key in _TACTICS:
            tactics.append({"name": key.replace("_", " ").title(), "uid": _TACTICS[key]})
        elif _TECHNIQUE.match(name):
            techniques.append({"uid": name.upper()})
    return tactics, techniques


@dataclass(frozen=True, slots=True)
class Alert:
    """One Detection Finding: a rule matched one event, or a correlation matched a window of events.

    `evidence` lists the window's event uids (empty for a plain alert, whose evidence is `event_uid`);
    `correlation_key` is set only on correlation alerts: the rule and its group-by values.
    """

    uid: str
    rule_id: str
    rule_title: str
    level: str | None
    time: str | None
    event_uid: str
    source: str
    tactics: tuple[str, ...]
    techniques: tuple[str, ...]
    host: str | None = None
    user: str | None = None
    src_ip: str | None = None
    dst_ip: str | None = None
    evidence: tuple[str, ...] = ()
    correlation_key: str | None = None
    enrichments: tuple[tuple[str, str], ...] = ()  # (name, value): context such as threat intel

    @property
    def event_uids(self) -> tuple[str, ...]:
        """Every event this alert is about."""
        return self.evidence or (self.event_uid,)

    def to_ocsf(self) -> dict[str, Any]:
        """The OCSF Detection Finding document (class 2004) stored and listed."""
        entities = [
            {"type": kind, "value": value}
            for kind, value in (
                ("host", self.host),
                ("user", self.user),
                ("ip", self.src_ip),
                ("ip", self.dst_ip),
            )
            if value
        ]
        severity_id = _SEVERITY.get(self.level or "", 0)
        tactic_items, technique_items = attack_from_tags(
            [f"attack.{t}" for t in self.tactics] + [f"attack.{t.lower()}" for t in self.techniques]
        )
        doc: dict[str, Any] = {
            "class_uid": DETECTION_FINDING_CLASS,
            "class_name": "Detection Finding",
            "category_uid": FINDINGS_CATEGORY,
            "activity_id": 1,
            "time": self.time,
            "severity_id": severity_id,
            "severity": self.level,
            "rule_id": self.rule_id,
            "finding_info": {
                "uid": self.uid,
                "title": self.rule_title,
                "analytic": {"uid": self.rule_id, "name": self.rule_title, "type": "Rule"},
                "attacks": [{"tactic": t} for t in tactic_items]
                + [{"technique": t} for t in technique_items],
            },
            "evidences": [{"event_uid": uid, "source": self.source} for uid in self.event_uids],
            "entities": entities,
        }
        if self.correlation_key is not None:
            doc["correlation_key"] = self.correlation_key
        if self.enrichments:
            doc["enrichments"] = [{"name": name, "value": value} for name, value in self.enrichments]
        return doc


def alert_uid(rule_id: str, event_uid: str) -> str:
    """Stable id of the (rule, event) pair: the deduplication key."""
    return hashlib.sha256(f"{rule_id}\x00{event_uid}".encode()).hexdigest()[:32]


def build_alerts(matches: Iterable[Match], rules: Iterable[Rule]) -> list[Alert]:
    """Alerts for matches, one per (rule, event)."""
    by_id = {r.id: r for r in rules}
    out: dict[str, Alert] = {}
    for match in matches:
        rule = by_id[match.rule_id]
        if not rule.generate:
            continue
        tactics, techniques = attack_from_tags(rule.tags)
        uid = alert_uid(match.rule_id, match.event_uid)
        when = match.time.astimezone(dt.UTC).isoformat() if isinstance(match.time, dt.datetime) else None
        out.setdefault(
            uid,
            Alert(
                uid=uid,
                rule_id=rule.id,
                rule_title=rule.title,
                level=rule.level,
                time=when,
                event_uid=match.event_uid,
                source=match.source,
                tactics=tuple(t["name"].lower().replace(" ", "_") for t in tactics),
                techniques=tuple(t["uid"] for t in techniques),
                host=match.host,
                user=match.user,
                src_ip=match.src_ip,
                dst_ip=match.dst_ip,
            ),
        )
    return list(out.values())


def correlation_key(rule_id: str, group: Iterable[tuple[str, str | None]]) -> str:
    """The correlation's identity for incident grouping: its rule and group-by values (hashed if long)."""
    text = rule_id + "|" + "|".join(f"{name}={value}" for name, value in group)
    if len(text) <= _KEY_LIMIT:
        return text
    return f"{rule_id}|sha256={hashlib.sha256(text.encode()).hexdigest()}"


def _common(values: Iterable[str | None]) -> str | None:
    """The one value all evidence events share, else None (an entity the whole window is about)."""
    distinct = set(values)
    return next(iter(distinct)) if len(distinct) == 1 else None


def correlation_alerts(hits: Iterable[CorrelationHit], rules: Iterable[Rule]) -> list[Alert]:
    """One alert per correlation episode; its uid hashes the rule, the group and the first event."""
    by_id = {r.id: r for r in rules}
    out: dict[str, Alert] = {}
    for hit in hits:
        rule = by_id[hit.rule_id]
        tactics, techniques = attack_from_tags(rule.tags)
        key = correlation_key(rule.id, hit.group)
        evidence = hit.event_uids
        uid = alert_uid(rule.id, f"{key}\x00{evidence[0]}")
        last = hit.matches[-1].time
        when = last.astimezone(dt.UTC).isoformat() if isinstance(last, dt.datetime) else None
        out.setdefault(
            uid,
            Alert(
                uid=uid,
                rule_id=rule.id,
                rule_title=rule.title,
                level=rule.level,
                time=when,
                event_uid=evidence[0],
                source=",".join(sorted({m.source for m in hit.matches})),
                tactics=tuple(t["name"].lower().replace(" ", "_") for t in tactics),
                techniques=tuple(t["uid"] for t in techniques),
                host=_common(m.host for m in hit.matches),
                user=_common(m.user for m in hit.matches),
                src_ip=_common(m.src_ip for m in hit.matches),
                dst_ip=_common(m.dst_ip for m in hit.matches),
                evidence=evidence,
                correlation_key=key,
            ),
        )
    return list(out.values())


_FILE_LOCKS: dict[Path, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> threading.Lock:
    """One lock per alerts file in this process: detection and intel threads append to the same file."""
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(path.resolve(), threading.Lock())


class AlertStore:
    """Alerts of an installation: `<data>/alerts/alerts.jsonl`, append-only, one finding per line.

    `add` is safe from several threads of one process (a lock per file), and it reads only what was
    appended since its last call to learn the stored ids, so streaming detection does not re-read a
    growing file on every batch.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "alerts.jsonl"
        self._known: set[str] = set()
        self._offset = 0

    def _learn(self) -> set[str]:
        """The ids stored so far, read incrementally (from the start again if the file was replaced)."""
        if not self.path.is_file():
            self._known, self._offset = set(), 0
            return self._known
        if self.path.stat().st_size < self._offset:
            self._known, self._offset = set(), 0
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # a line still being written by another process: read it next time
                self._offset += len(raw)
                if not raw.strip():
                    continue
                try:
                    self._known.add(json.loads(raw)["finding_info"]["uid"])
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    where = Location(str(self.path), field=f"byte {self._offset - len(raw)}")
                    raise RuleError(f"corrupt alert record: {exc}", where) from exc
        return self._known

    def _docs(self) -> Iterator[dict[str, Any]]:
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RuleError(f"corrupt alert record: {exc}", Location(str(self.path), number)) from exc

    def list(self) -> list[dict[str, Any]]:
        """Every stored finding, oldest first."""
        return list(self._docs())

    def add(self, alerts: Iterable[Alert]) -> builtins.list[Alert]:
        """Store alerts not already stored; returns those that were new (for incident management)."""
        with _file_lock(self.path):
            known = self._learn()
            fresh: list[Alert] = []
            seen: set[str] = set()
            for alert in alerts:
                if alert.uid not in known and alert.uid not in seen:
                    seen.add(alert.uid)
                    fresh.append(alert)
            if not fresh:
                return fresh
            self.root.mkdir(parents=True, exist_ok=True)
            text = "".join(json.dumps(a.to_ocsf(), ensure_ascii=False, default=str) + "\n" for a in fresh)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(text)
            self._learn()  # our own lines: the next call starts after them
            return fresh
