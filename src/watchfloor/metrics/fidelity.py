"""The alert-feed fidelity report: each feed's record in the window, its status, and every change.

The 90% rule itself (the record, the judgement, demotion and restoration) lives in
`watchfloor.cases.fidelity`, because routing needs it; this module only reads what it decided and
recorded, for `watchfloor metrics fidelity` and the API.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from watchfloor.cases import (
    AuditRecord,
    Feed,
    FeedRecord,
    FeedStatus,
    FidelityPolicy,
    feed_history,
    feed_records,
    feed_status,
)

__all__ = ["FeedReport", "FidelityReport", "fidelity_report"]


@dataclass(frozen=True, slots=True)
class FeedReport:
    """One feed: its record in the window, whether it is in tuning now, and what the rule would say."""

    record: FeedRecord
    status: FeedStatus
    judgement: str

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return self.record.as_dict() | {
            "demoted": self.status.demoted,
            "since": None if self.status.since is None else self.status.since.isoformat(),
            "status_reason": self.status.reason,
            "judgement": self.judgement,
        }


@dataclass(frozen=True, slots=True)
class FidelityReport:
    """Every feed with a verdict in the window or a demotion on record, and the change history."""

    policy: FidelityPolicy
    feeds: list[FeedReport]
    changes: list[AuditRecord]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (the API returns this)."""
        return {
            "policy": {
                "threshold": self.policy.threshold,
                "window_days": self.policy.window.total_seconds() / 86400,
                "min_verdicts": self.policy.min_verdicts,
                "basis": self.policy.basis,
            },
            "feeds": [f.as_dict() for f in self.feeds],
            "changes": [
                {
                    "at": c.at.isoformat(),
                    "action": c.action,
                    "feed": c.target_id,
                    "rate": c.after.get("rate"),
                    "true_positives": c.after.get("true_positives"),
                    "false_positives": c.after.get("false_positives"),
                    "reason": c.after.get("reason", ""),
                }
                for c in self.changes
            ],
        }


def _feed_of(target_id: str) -> Feed:
    kind, _, name = target_id.partition(":")
    return Feed(kind, name)


def fidelity_report(
    session: Session, policy: FidelityPolicy | None = None, now: dt.datetime | None = None
) -> FidelityReport:
    """Records, statuses and history of every feed the window or the log knows."""
    policy = policy or FidelityPolicy()
    now = now or dt.datetime.now(dt.UTC)
    changes = feed_history(session)
    records = feed_records(session, policy, now)
    for feed in {_feed_of(c.target_id) for c in changes} - set(records):
        records |= feed_records(session, policy, now, [feed])
    status = feed_status(session, records)
    reports = [FeedReport(records[f], status[f], policy.judge(records[f])[1]) for f in sorted(records)]
    return FidelityReport(policy, reports, changes)
