"""The post-incident review of a major incident: merged timeline, lessons learned, action items.

The timeline is read from the audit log only (the member incidents' entries and the major incident's
own), so the review tells what was recorded when it happened, not what anyone remembers afterwards.
The review is Markdown, stored on the major incident and audited; writing it again replaces it (a new
audit entry keeps the old one's hash-chained trace).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from watchfloor.cases.audit import AuditRecord, entries
from watchfloor.cases.errors import NotAllowed
from watchfloor.cases.major import CLOSED, MajorDetail, audit_major, major_row, show_major
from watchfloor.cases.models import utcnow
from watchfloor.cases.users import Actor, require_tier

__all__ = ["TimelineItem", "render_review", "review_timeline", "write_review"]


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One line of the merged timeline: when, who, on what, and what happened in words."""

    at: dt.datetime
    actor: str
    target: str
    action: str
    summary: str


def _summary(entry: AuditRecord) -> str:
    after = entry.after
    if entry.action == "major.updated":
        return f"update {after.get('sequence')}: {after.get('what_happened', '')}"
    if entry.action == "major.update.acknowledged":
        return (
            f"update {after.get('update_id')} acknowledged for {after.get('audience')} by {after.get('by')}"
        )
    if entry.action == "major.update.delivered":
        return f"update {after.get('update_id')} {after.get('status')} to {after.get('audience')}"
    keys = ("state", "title", "verdict", "to_tier", "assignee", "reason", "text")
    details = ", ".join(f"{k}={after[k]}" for k in keys if after.get(k) not in (None, "", []))
    return details


def review_timeline(session: Session, major_id: int) -> list[TimelineItem]:
    """Every audit entry of the member incidents and of the major incident, in the order written."""
    detail = show_major(session, major_id)
    found: list[AuditRecord] = list(entries(session, target_type="major", target_id=major_id))
    for incident_id in detail.major.incident_ids:
        found.extend(entries(session, target_type="incident", target_id=incident_id))
    found.sort(key=lambda e: (e.at, e.seq))
    return [
        TimelineItem(e.at, e.actor, f"{e.target_type} {e.target_id}", e.action, _summary(e)) for e in found
    ]


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_review(detail: MajorDetail, timeline: list[TimelineItem], lessons: str) -> str:
    """The review as Markdown: summary, timeline, updates and acknowledgements, lessons, action items."""
    major = detail.major
    incidents = ", ".join(f"#{i}" for i in major.incident_ids)
    lines = [
        f"# Post-incident review: {major.title}",
        "",
        f"- Major incident: {major.id} (declared by {major.declared_by}, {_when(major.declared_at)})",
        f"- Closed: {_when(major.closed_at) if major.closed_at else 'open'}",
        f"- Incidents: {incidents}",
        f"- Business services affected: {', '.join(major.services) or 'none named'}",
        f"- Audiences: {', '.join(major.audiences) or 'none'}",
        "",
        "## Timeline",
        "",
        "| When | Who | What | On | Details |",
        "| --- | --- | --- | --- | --- |",
    ]
    for item in timeline:
        details = item.summary.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {_when(item.at)} | {item.actor} | {item.action} | {item.target} | {details} |")
    lines += ["", "## Stakeholder updates", ""]
    if not detail.updates:
        lines.append("No update was sent.")
    for update in detail.updates:
        lines.append(f"### Update {update.sequence} ({_when(update.created_at)}, {update.author})")
        lines += ["", f"- What happened: {update.text.what_happened}", f"- Impact: {update.text.impact}"]
        lines.append(f"- What we are doing: {update.text.doing}")
        if update.text.need:
            lines.append(f"- What we need: {update.text.need}")
        for d in update.deliveries:
            ack = f"acknowledged by {d.acknowledged_by}" if d.acknowledged_by else "not acknowledged"
            lines.append(f"- {d.audience}: {d.status} via {d.channel}, {ack}")
        lines.append("")
    lines += ["## Lessons learned", "", lessons.strip() or "None recorded.", "", "## Action items", ""]
    if not detail.actions:
        lines.append("None recorded.")
    for action in detail.actions:
        mark = "x" if action.done else " "
        lines.append(f"- [{mark}] {action.text} (owner: {action.owner}, due {action.due.isoformat()})")
    return "\n".join(lines) + "\n"


def write_review(
    session: Session, actor: Actor, major_id: int, *, lessons: str = "", now: dt.datetime | None = None
) -> str:
    """Write (or rewrite) the review of a closed major incident; tier 2 or above. Returns the Markdown."""
    require_tier(actor, 2, "write a post-incident review")
    now = now or utcnow()
    row = major_row(session, major_id)
    if row.state != CLOSED:
        raise NotAllowed(f"close major incident {major_id} before reviewing it (`watchfloor major close`)")
    lessons = lessons.strip() or row.lessons
    markdown = render_review(show_major(session, major_id), review_timeline(session, major_id), lessons)
    row.lessons, row.review, row.reviewed_by, row.reviewed_at = lessons, markdown, actor.username, now
    session.flush()
    audit_major(
        session, actor, "major.reviewed", major_id, {"lessons": lessons, "length": len(markdown)}, now
    )
    return markdown
