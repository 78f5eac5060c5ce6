"""Business context in the incident database: importing, listing and indexing assets, identities, services.

An import is all or nothing: a file with any problem changes nothing (its problems are raised, the
first as the message and all of them on the error), so a half-applied spreadsheet never routes
incidents. Records are upserted by their lower-case key; each record that changes is an audit entry
(`context.asset.set`, `context.identity.set`, `context.service.set`, with before and after), and the
import as a whole is one more (`context.imported`). Routing reads every record through
`context_index`, built once per session and rebuilt after a change; the older criticality table
(`critical_entities`, kept for `watchfloor criticality`) is folded into the same index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.audit import record
from watchfloor.cases.errors import InvalidInput
from watchfloor.cases.models import BusinessServiceRow, ContextAsset, ContextIdentity, CriticalEntity, utcnow
from watchfloor.cases.users import Actor, require_tier
from watchfloor.context import (
    Asset,
    BusinessService,
    ContextError,
    ContextIndex,
    ContextKind,
    ContextRecord,
    Exposure,
    Identity,
    ImportResult,
    Resolution,
    parse_criticality,
)

__all__ = [
    "ContextImport",
    "context_index",
    "forget_index",
    "import_context",
    "kind_of",
    "list_context",
    "record_fields",
    "resolution_fields",
]

_INDEX_KEY = "watchfloor.context_index"
_ROW_TYPES: dict[ContextKind, type[ContextAsset] | type[ContextIdentity] | type[BusinessServiceRow]] = {
    ContextKind.ASSETS: ContextAsset,
    ContextKind.IDENTITIES: ContextIdentity,
    ContextKind.SERVICES: BusinessServiceRow,
}
_ACTION = {ContextKind.ASSETS: "asset", ContextKind.IDENTITIES: "identity", ContextKind.SERVICES: "service"}


@dataclass(frozen=True, slots=True)
class ContextImport:
    """What an import changed."""

    path: str
    kind: ContextKind
    added: int
    updated: int
    unchanged: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for `--json`."""
        return {
            "path": self.path,
            "kind": self.kind.value,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }


def record_fields(item: ContextRecord) -> dict[str, Any]:
    """A record's stored columns (what audit entries and `--json` show), keyed as the tables name them."""
    if isinstance(item, Asset):
        return {
            "hostname": item.key,
            "addresses": list(item.addresses),
            "criticality": item.criticality,
            "sensitivity": item.sensitivity,
            "owner": item.owner,
            "business_service": item.service,
            "crown_jewel": item.crown_jewel,
            "exposure": item.exposure.value,
        }
    if isinstance(item, Identity):
        return {
            "username": item.key,
            "aliases": [a.lower() for a in item.aliases],
            "vip": item.vip,
            "criticality": item.criticality,
            "sensitivity": item.sensitivity,
            "owner": item.owner,
            "business_service": item.service,
        }
    return {
        "name": item.name.strip(),
        "criticality": item.criticality,
        "owner": item.owner,
        "description": item.description,
    }


def kind_of(item: ContextRecord) -> ContextKind:
    """Which table a record belongs to."""
    if isinstance(item, Asset):
        return ContextKind.ASSETS
    if isinstance(item, Identity):
        return ContextKind.IDENTITIES
    return ContextKind.SERVICES


def resolution_fields(match: Resolution) -> dict[str, Any]:
    """A resolved entity as `context resolve --json` and the API show it."""
    return {
        "value": match.value,
        "entity_type": match.entity_type.value,
        "matched_by": match.matched_by,
        "kind": kind_of(match.record).value,
        "record": record_fields(match.record),
    }


def _key_column(kind: ContextKind) -> str:
    return {ContextKind.ASSETS: "hostname", ContextKind.IDENTITIES: "username", ContextKind.SERVICES: "name"}[
        kind
    ]


def import_context(session: Session, actor: Actor, result: ImportResult) -> ContextImport:
    """Upsert a parsed file's records (tier 2 and above); refuse the whole file if it had problems."""
    require_tier(actor, 2, "change business context")
    if result.errors:
        first = result.errors[0]
        more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
        raise ContextError(f"{first.message}{more}; nothing imported", first.location, result.errors)
    row_type = _ROW_TYPES[result.kind]
    key_name = _key_column(result.kind)
    rows: list[ContextAsset | ContextIdentity | BusinessServiceRow] = list(session.scalars(select(row_type)))
    existing = {getattr(r, key_name).lower(): r for r in rows}
    added = updated = unchanged = 0
    for item in result.records:
        after = record_fields(item)
        row = existing.get(item.key)
        before = None if row is None else {k: getattr(row, k) for k in after}
        if before == after:
            unchanged += 1
            continue
        if row is None:
            row = row_type(**after)
            session.add(row)
            added += 1
        else:
            for name, value in after.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            updated += 1
        session.flush()
        record(
            session,
            actor=actor.username,
            action=f"context.{_ACTION[result.kind]}.set",
            target_type=_ACTION[result.kind],
            target_id=after[key_name],
            before=before,
            after=after,
            request_id=actor.request_id,
        )
    summary = ContextImport(result.path, result.kind, added, updated, unchanged)
    record(
        session,
        actor=actor.username,
        action="context.imported",
        target_type="context",
        target_id=result.kind.value,
        after=summary.as_dict() | {"records": len(result.records)},
        request_id=actor.request_id,
    )
    session.info.pop(_INDEX_KEY, None)
    return summary


def _asset(row: ContextAsset) -> Asset:
    return Asset(
        row.hostname,
        tuple(row.addresses),
        row.criticality,
        row.sensitivity,
        row.owner,
        row.business_service,
        row.crown_jewel,
        Exposure(row.exposure),
    )


def _identity(row: ContextIdentity) -> Identity:
    return Identity(
        row.username,
        tuple(row.aliases),
        row.vip,
        row.criticality,
        row.sensitivity,
        row.owner,
        row.business_service,
    )


def _service(row: BusinessServiceRow) -> BusinessService:
    return BusinessService(row.name, row.criticality, row.owner, row.description)


def list_context(session: Session, kind: ContextKind | None = None) -> list[ContextRecord]:
    """The stored records of one kind (or all), in key order."""
    found: list[ContextRecord] = []
    if kind in (None, ContextKind.SERVICES):
        found += [
            _service(r) for r in session.scalars(select(BusinessServiceRow).order_by(BusinessServiceRow.name))
        ]
    if kind in (None, ContextKind.ASSETS):
        found += [_asset(r) for r in session.scalars(select(ContextAsset).order_by(ContextAsset.hostname))]
    if kind in (None, ContextKind.IDENTITIES):
        found += [
            _identity(r) for r in session.scalars(select(ContextIdentity).order_by(ContextIdentity.username))
        ]
    return found


def _legacy(rows: Iterable[CriticalEntity]) -> list[ContextRecord]:
    """Criticality-table rows as context records (processes are not context; routing keeps them)."""
    found: list[ContextRecord] = []
    for row in rows:
        level = parse_criticality(row.criticality)
        if row.entity_type == "host":
            found.append(Asset(row.value, criticality=level, service=row.business_service))
        elif row.entity_type == "ip":
            found.append(Asset(row.value, (row.value,), criticality=level, service=row.business_service))
        elif row.entity_type == "user":
            found.append(Identity(row.value, criticality=level, service=row.business_service))
    return found


def context_index(session: Session) -> ContextIndex:
    """Every stored record indexed for resolution; cached on the session until a change drops it."""
    cached = session.info.get(_INDEX_KEY)
    if isinstance(cached, ContextIndex):
        return cached
    try:
        legacy = _legacy(session.scalars(select(CriticalEntity)))
    except ValueError as exc:
        raise InvalidInput(f"criticality table: {exc}") from None
    # Where both tables describe the same name, the more critical record counts.
    index = ContextIndex.build([*legacy, *list_context(session)])
    session.info[_INDEX_KEY] = index
    return index


def forget_index(session: Session) -> None:
    """Drop the cached index (after a change made outside `import_context`)."""
    session.info.pop(_INDEX_KEY, None)
