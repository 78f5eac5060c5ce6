"""The append-only, hash-chained audit log: every change to incident data is one entry here.

Each entry's hash is SHA-256 over the canonical JSON of its fields (sequence number, time, actor,
action, target, before, after, request id) and the previous entry's hash, so altering, removing or
reordering any entry breaks every hash after it. `verify` walks the chain and names the first broken
entry. Metrics (MTTA, MTTR, escalations, reopen rate, automation share) are computed from this log only,
which is why the actions below carry the times and tiers those metrics need.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.models import AuditEntry, AuditHead, utcnow

__all__ = [
    "GENESIS_HASH",
    "AuditRecord",
    "VerifyResult",
    "canonical_json",
    "entries",
    "entry_hash",
    "new_request_id",
    "record",
    "verify",
]

GENESIS_HASH = "0" * 64
_HEAD_ID = 1


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"cannot put {type(value).__name__} in the audit log")


def _iso(value: dt.datetime) -> str:
    """One spelling of a time for hashing, whatever the database returned (microseconds, UTC, `Z`)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spacing: the same value always gives the same text and hash."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def new_request_id() -> str:
    """An id tying together the entries one command or API request wrote."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An audit entry as readers (verify, metrics, `incidents show`) see it, with before/after parsed."""

    seq: int
    at: dt.datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    request_id: str
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "seq": self.seq,
            "at": _iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "before": dict(self.before),
            "after": dict(self.after),
            "request_id": self.request_id,
            "hash": self.hash,
        }


def entry_hash(
    *,
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    before: str,
    after: str,
    request_id: str,
    prev_hash: str,
) -> str:
    """SHA-256 of the canonical JSON of one entry's fields plus the previous hash."""
    body = canonical_json(
        {
            "seq": seq,
            "at": _iso(at),
            "actor": actor,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "before": before,
            "after": after,
            "request_id": request_id,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _lock_head(session: Session) -> AuditHead:
    head = session.scalars(select(AuditHead).where(AuditHead.id == _HEAD_ID).with_for_update()).first()
    if head is None:
        head = AuditHead(id=_HEAD_ID, seq=0, hash=GENESIS_HASH)
        session.add(head)
        session.flush()
    return head


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | int,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    request_id: str,
    at: dt.datetime | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction: it commits, or rolls back, with the change itself."""
    head = _lock_head(session)
    fields: dict[str, Any] = {
        "seq": head.seq + 1,
        "at": at or utcnow(),
        "actor": actor,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id),
        "before": canonical_json(dict(before or {})),
        "after": canonical_json(dict(after or {})),
        "request_id": request_id,
        "prev_hash": head.hash,
    }
    entry = AuditEntry(**fields, hash=entry_hash(**fields))
    session.add(entry)
    head.seq, head.hash = entry.seq, entry.hash
    session.flush()
    return entry


def _to_record(entry: AuditEntry) -> AuditRecord:
    return AuditRecord(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        target_type=entry.target_type,
        target_id=entry.target_id,
        before=json.loads(entry.before),
        after=json.loads(entry.after),
        request_id=entry.request_id,
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )


def entries(
    session: Session,
    *,
    target_type: str | None = None,
    target_id: str | int | None = None,
    actions: tuple[str, ...] = (),
    batch: int = 5_000,
) -> Iterator[AuditRecord]:
    """The log in order, optionally for one target or some actions; streamed in batches."""
    query = select(AuditEntry).order_by(AuditEntry.seq)
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == str(target_id))
    if actions:
        query = query.where(AuditEntry.action.in_(actions))
    for entry in session.scalars(query.execution_options(yield_per=batch)):
        yield _to_record(entry)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of walking the chain: how many entries held, and the first that did not and why."""

    ok: bool
    entries: int
    last_hash: str
    broken_seq: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "last_hash": self.last_hash,
            "broken_seq": self.broken_seq,
            "reason": self.reason,
        }


def verify(session: Session, batch: int = 5_000) -> VerifyResult:
    """Recompute every hash in order; report the first entry whose content or link does not match."""
    prev, expected_seq, count = GENESIS_HASH, 1, 0
    query = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch)
    for entry in session.scalars(query):
        if entry.seq != expected_seq:
            return VerifyResult(False, count, prev, expected_seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != prev:
            reason = f"entry {entry.seq} does not link to entry {entry.seq - 1} (previous hash differs)"
            return VerifyResult(False, count, prev, entry.seq, reason)
        recomputed = entry_hash(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            before=entry.before,
            after=entry.after,
            request_id=entry.request_id,
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.hash:
            reason = (
                f"entry {entry.seq} ({entry.action} on {entry.target_type} {entry.target_id}) was altered"
            )
            return VerifyResult(False, count, prev, entry.seq, reason)
        prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    head = session.get(AuditHead, _HEAD_ID)
    if head is not None and (head.seq, head.hash) != (count, prev):
        reason = f"the log ends at entry {count} but its head names entry {head.seq}: entries were removed"
        return VerifyResult(False, count, prev, count + 1, reason)
    return VerifyResult(True, count, prev)
