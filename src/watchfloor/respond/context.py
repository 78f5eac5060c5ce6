"""What a run sees: the incident as a plain scope for expressions, and the enrichment sources.

The scope is rebuilt from the database before each step, so a step sees the changes earlier steps made.
Enrichment reads four sources, each behind a small interface so tests and installations can swap them:
the event store (related events around the incident's entities and time), the incident database (prior
incidents on the same entities; business context from the criticality table), and threat intel
(`IntelLookup`; none is configured by default, which the output says rather than pretending).
The store and intel are read outside the step's database transaction, so a slow one is timed out
without holding the incident database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from watchfloor.cases.models import Alert, AlertEntity, CriticalEntity, Incident
from watchfloor.errors import WatchfloorError
from watchfloor.respond.errors import PlaybookError
from watchfloor.store import EventStore

__all__ = [
    "DATABASE_ENRICHERS",
    "ENRICHERS",
    "OUTSIDE_ENRICHERS",
    "EnrichSources",
    "IntelLookup",
    "NoIntel",
    "check_enrichers",
    "enrich_from_database",
    "enrich_from_outside",
    "incident_scope",
]

_EVENT_COLUMNS = (
    "time",
    "metadata_log_name",
    "class_name",
    "device_hostname",
    "actor_user_name",
    "src_endpoint_ip",
    "dst_endpoint_ip",
    "process_cmd_line",
    "metadata_uid",
)


class IntelLookup(Protocol):
    """Threat intelligence about one observable (an address, domain, hash, user or host)."""

    name: str

    def lookup(self, kind: str, value: str) -> Mapping[str, Any] | None:
        """What is known about `value`, or None."""
        ...


class NoIntel:
    """The default: no intel source configured (`watchfloor intel` fills this in when it lands)."""

    name = "none"

    def lookup(self, kind: str, value: str) -> Mapping[str, Any] | None:
        """Nothing known."""
        return None


@dataclass(frozen=True, slots=True)
class EnrichSources:
    """Where enrichment reads from; the store is optional (a database-only installation has none)."""

    store: EventStore | None = None
    intel: IntelLookup = field(default_factory=NoIntel)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def incident_scope(session: Session, incident_id: int) -> dict[str, Any]:
    """The incident, its alerts and entities as plain values for expressions and templates."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise PlaybookError(f"incident {incident_id} does not exist")
    alerts = session.scalars(select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.event_time))
    alert_docs: list[dict[str, Any]] = []
    entities: dict[str, set[str]] = {"host": set(), "user": set(), "ip": set(), "process": set()}
    for alert in alerts:
        kinds: dict[str, list[str]] = {}
        for entity in alert.entities:
            kinds.setdefault(entity.kind, []).append(entity.value)
            entities.setdefault(entity.kind, set()).add(entity.value)
        alert_docs.append(
            {
                "uid": alert.uid,
                "rule_id": alert.rule_id,
                "rule_title": alert.rule_title,
                "severity": alert.severity,
                "source": alert.source,
                "event_time": _iso(alert.event_time),
                "techniques": list(alert.techniques),
                "hosts": kinds.get("host", []),
                "users": kinds.get("user", []),
                "ips": kinds.get("ip", []),
            }
        )
    return {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "state": incident.state,
            "tier": incident.tier,
            "queue": incident.queue,
            "severity": incident.severity,
            "assignee": incident.assignee,
            "alert_count": incident.alert_count,
            "first_alert_at": _iso(incident.first_alert_at),
            "last_alert_at": _iso(incident.last_alert_at),
            "verdict": incident.verdict,
        },
        "alerts": alert_docs,
        "entities": {kind: sorted(values) for kind, values in entities.items()},
        "rules": sorted({a["rule_id"] for a in alert_docs}),
        "rule_titles": sorted({a["rule_title"] for a in alert_docs}),
    }


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _related_events(
    scope: Mapping[str, Any], sources: EnrichSources, window: float, limit: int
) -> dict[str, Any]:
    if sources.store is None:
        return {"related_events": [], "related_events_note": "no event store configured"}
    entities, incident = scope["entities"], scope["incident"]
    clauses = []
    for column, kind in (
        ("device_hostname", "host"),
        ("actor_user_name", "user"),
        ("src_endpoint_ip", "ip"),
        ("dst_endpoint_ip", "ip"),
    ):
        values = entities.get(kind) or []
        if values:
            # Incident entities are kept lower-cased (`WS-042` and `ws-042` are one host); the store
            # keeps the producer's spelling.
            clauses.append(f"lower({column}) IN ({', '.join(_quote(v.lower()) for v in values)})")
    if not clauses:
        return {"related_events": [], "related_events_note": "the incident names no host, user or address"}
    start = dt.datetime.fromisoformat(incident["first_alert_at"]) - dt.timedelta(seconds=window)
    end = dt.datetime.fromisoformat(incident["last_alert_at"]) + dt.timedelta(seconds=window)
    sql = (
        f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events WHERE ({' OR '.join(clauses)}) "
        f"AND time >= TIMESTAMPTZ {_quote(start.isoformat())} "
        f"AND time <= TIMESTAMPTZ {_quote(end.isoformat())} "
        f"ORDER BY time LIMIT {int(limit)}"
    )
    try:
        rows = sources.store.query(sql).to_pylist()
    except WatchfloorError as exc:
        return {"related_events": [], "related_events_note": f"store: {exc}"}
    events = [{k: (str(v) if isinstance(v, dt.datetime) else v) for k, v in row.items()} for row in rows]
    return {"related_events": events}


def _pairs(scope: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(kind, value) for kind, values in scope["entities"].items() for value in values]


def _prior_incidents(session: Session, scope: Mapping[str, Any], limit: int) -> dict[str, Any]:
    pairs = _pairs(scope)
    if not pairs:
        return {"prior_incidents": []}
    own = scope["incident"]["id"]
    ids = session.scalars(
        select(AlertEntity.incident_id)
        .where(tuple_(AlertEntity.kind, AlertEntity.value).in_(pairs), AlertEntity.incident_id != own)
        .distinct()
        .order_by(AlertEntity.incident_id.desc())
        .limit(limit)
    ).all()
    found = []
    for incident in session.scalars(select(Incident).where(Incident.id.in_(ids)).order_by(Incident.id)):
        found.append(
            {
                "id": incident.id,
                "title": incident.title,
                "state": incident.state,
                "verdict": incident.verdict,
            }
        )
    return {"prior_incidents": found}


def _business_context(session: Session, scope: Mapping[str, Any], limit: int) -> dict[str, Any]:
    pairs = _pairs(scope)
    rows = (
        session.scalars(
            select(CriticalEntity).where(tuple_(CriticalEntity.entity_type, CriticalEntity.value).in_(pairs))
        ).all()
        if pairs
        else []
    )
    return {
        "business_context": [
            {
                "kind": r.entity_type,
                "value": r.value,
                "criticality": r.criticality,
                "business_service": r.business_service,
            }
            for r in rows
        ]
    }


def _intel(scope: Mapping[str, Any], sources: EnrichSources, window: float, limit: int) -> dict[str, Any]:
    hits = []
    for kind, value in _pairs(scope):
        found = sources.intel.lookup(kind, value)
        if found:
            hits.append({"kind": kind, "value": value, **dict(found)})
    return {"intel": hits, "intel_source": sources.intel.name}


# Enrichers that read the incident database run inside the step's transaction; those that read the event
# store or threat intel (which may be slow or hang) run outside it, under the step's timeout.
DATABASE_ENRICHERS: dict[str, Callable[[Session, Mapping[str, Any], int], dict[str, Any]]] = {
    "prior_incidents": _prior_incidents,
    "business_context": _business_context,
}
OUTSIDE_ENRICHERS: dict[str, Callable[[Mapping[str, Any], EnrichSources, float, int], dict[str, Any]]] = {
    "related_events": _related_events,
    "intel": _intel,
}
ENRICHERS = (*OUTSIDE_ENRICHERS, *DATABASE_ENRICHERS)


def check_enrichers(names: list[str]) -> None:
    """Refuse an enrichment this version does not know, naming those it does."""
    for name in names:
        if name not in ENRICHERS:
            raise PlaybookError(f"unknown enrichment {name!r} ({', '.join(ENRICHERS)})")


def enrich_from_database(
    session: Session, scope: Mapping[str, Any], names: list[str], limit: int
) -> dict[str, Any]:
    """The named enrichers that read the incident database, merged."""
    outputs: dict[str, Any] = {}
    for name in names:
        if name in DATABASE_ENRICHERS:
            outputs.update(DATABASE_ENRICHERS[name](session, scope, limit))
    return outputs


def enrich_from_outside(
    scope: Mapping[str, Any], sources: EnrichSources, names: list[str], window: float, limit: int
) -> dict[str, Any]:
    """The named enrichers that read the event store or threat intel, merged; no database session."""
    outputs: dict[str, Any] = {}
    for name in names:
        if name in OUTSIDE_ENRICHERS:
            outputs.update(OUTSIDE_ENRICHERS[name](scope, sources, window, limit))
    return outputs
