"""Threat-intel matches as Detection Findings: the hand-off from intel to alerts and incidents.

Intel and detection are sibling packages and may not import each other, so the step that turns an
`IntelMatch` into an `Alert` lives here, above both, next to `from_detection`; the CLI's `detect` and
the streaming path under `serve` both use it. Each feed is one rule, `intel:<feed>`: alerts are
deduplicated per (feed, event) like any rule's, and the fidelity rule (`fidelity`, the 90% rule) judges a
feed by the verdicts of its alerts exactly as it judges a Sigma rule.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from watchfloor.config import Settings
from watchfloor.detect import Alert, AlertStore, alert_uid
from watchfloor.intel import IntelMatch, hunt, intel_store, record_sightings
from watchfloor.store import EventStore

__all__ = ["detect_intel", "intel_alerts", "intel_rule_id", "record_intel_matches"]


def intel_rule_id(feed: str) -> str:
    """The rule id of a feed's alerts."""
    return f"intel:{feed}"


def _level(confidence: int) -> str:
    return "high" if confidence >= 75 else "medium" if confidence >= 40 else "low"


def intel_alerts(matches: Iterable[IntelMatch]) -> list[Alert]:
    """One alert per (feed, event): the best-confidence match names it, every match is an enrichment."""
    grouped: dict[tuple[str, str], list[IntelMatch]] = defaultdict(list)
    for match in matches:
        grouped[(match.feed, match.event_uid)].append(match)
    alerts = []
    for (feed, event_uid), found in grouped.items():
        best = max(found, key=lambda m: m.confidence)
        enrichments: list[tuple[str, str]] = []
        for m in sorted(found, key=lambda m: (-m.confidence, m.indicator)):
            pair = (
                "threat_intel",
                f"{m.indicator_type}:{m.indicator} in {m.field} feed={m.feed} "
                f"confidence={m.confidence} tlp={m.tlp}",
            )
            if pair not in enrichments:
                enrichments.append(pair)
        rule_id = intel_rule_id(feed)
        alerts.append(
            Alert(
                uid=alert_uid(rule_id, event_uid),
                rule_id=rule_id,
                rule_title=(
                    f"Threat intel: {best.indicator_type} {best.indicator} ({feed}, TLP:{best.tlp.upper()})"
                ),
                level=_level(best.confidence),
                time=best.time.astimezone(dt.UTC).isoformat() if best.time else None,
                event_uid=event_uid,
                source=best.source or "",
                tactics=(),
                techniques=(),
                host=best.host,
                user=best.user,
                src_ip=best.src_ip,
                dst_ip=best.dst_ip,
                enrichments=tuple(enrichments),
            )
        )
    return alerts


def record_intel_matches(
    settings: Settings, matches: list[IntelMatch], alert_store: AlertStore
) -> list[Alert]:
    """Record matches as sightings (with their alert's uid) and as alerts; returns the new alerts."""
    if not matches:
        return []
    record_sightings(intel_store(settings), matches, lambda m: alert_uid(intel_rule_id(m.feed), m.event_uid))
    return alert_store.add(intel_alerts(matches))


def detect_intel(
    settings: Settings, events: EventStore, alert_store: AlertStore, since: dt.datetime | None
) -> tuple[list[IntelMatch], list[Alert]]:
    """Retro-hunt the live indicators over the window; returns (matches, new alerts)."""
    if not intel_store(settings).exists():
        return [], []
    matches = hunt(settings, events, since)
    return matches, record_intel_matches(settings, matches, alert_store)
