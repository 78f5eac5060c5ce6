"""Detection's alerts as incident management receives them: the one hand-off between the two."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from watchfloor.cases.intake import IncomingAlert
from watchfloor.detect import Alert

__all__ = ["from_detection"]


def from_detection(alerts: Iterable[Alert], received: dt.datetime | None = None) -> list[IncomingAlert]:
    """Convert Detection Findings; an alert without an event time counts from when it was received.

    A correlation alert brings every event of its window as evidence and its correlation key, so that
    later episodes of the same rule and group join the same open incident.
    """
    now = received or dt.datetime.now(dt.UTC)
    incoming = []
    for alert in alerts:
        when = dt.datetime.fromisoformat(alert.time) if alert.time else now
        incoming.append(
            IncomingAlert(
                uid=alert.uid,
                rule_id=alert.rule_id,
                rule_title=alert.rule_title,
                severity=(alert.level or "medium").lower(),
                event_time=when if when.tzinfo else when.replace(tzinfo=dt.UTC),
                techniques=alert.techniques,
                tactics=alert.tactics,
                hosts=tuple(h for h in (alert.host,) if h),
                users=tuple(u for u in (alert.user,) if u),
                ips=tuple(ip for ip in (alert.src_ip, alert.dst_ip) if ip),
                evidence_event_ids=alert.event_uids,
                source=alert.source,
                correlation_key=alert.correlation_key,
            )
        )
    return incoming
