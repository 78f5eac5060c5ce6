"""The intel report for leadership: what was targeted, what was seen, and what changed since last time.

Built from plain inputs (`ReportAlert` rows from the alert store, incident outcomes, the intel store's
sightings), so that the layer that can read them all (the CLI) gathers and this module only summarises
and renders. Each report's summary is kept as JSON beside the report; the next report compares with
the latest earlier one ("what changed": new techniques, indicators and assets, and the change in
counts). Markdown and HTML are written; the HTML is self-contained (no script, no remote asset) and
every value is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ReportAlert", "build_summary", "changes_since", "render_html", "render_markdown", "write_report"]

_TOP = 10


@dataclass(frozen=True, slots=True)
class ReportAlert:
    """One alert as the report counts it."""

    time: dt.datetime | None
    rule_id: str
    severity: str | None
    source: str | None
    hosts: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()


def build_summary(
    start: dt.datetime,
    end: dt.datetime,
    alerts: Iterable[ReportAlert],
    sightings: Iterable[Mapping[str, Any]],
    outcomes: Mapping[str, int],
    technique_names: Mapping[str, str],
) -> dict[str, Any]:
    """The report's figures as JSON-able data (also what the next report compares with)."""
    chosen = [a for a in alerts if a.time is None or start <= a.time < end]
    hosts = Counter(h for a in chosen for h in a.hosts)
    users = Counter(u for a in chosen for u in a.users)
    sources = Counter(a.source or "unknown" for a in chosen)
    techniques = Counter(t for a in chosen for t in a.techniques)
    severities = Counter((a.severity or "unknown").lower() for a in chosen)
    seen = [s for s in sightings if s.get("time") is None or start <= s["time"] < end]
    indicators = Counter((s["type"], s["value"], s["feed"]) for s in seen)
    feeds = Counter(s["feed"] for s in seen)
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "alerts": len(chosen),
        "severities": dict(severities.most_common()),
        "outcomes": dict(outcomes),
        "targeted_hosts": hosts.most_common(_TOP),
        "targeted_users": users.most_common(_TOP),
        "targeted_data": sources.most_common(_TOP),
        "techniques": [(t, technique_names.get(t, ""), n) for t, n in techniques.most_common(_TOP * 2)],
        "indicators": [(k[0], k[1], k[2], n) for k, n in indicators.most_common(_TOP * 2)],
        "feeds": feeds.most_common(),
        "all_techniques": sorted(techniques),
        "all_indicators": sorted(f"{k[0]}:{k[1]}" for k in indicators),
        "all_hosts": sorted(hosts),
    }


def changes_since(current: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """New techniques, indicators and hosts, and the change in alert count, since the previous report."""
    if previous is None:
        return {"first_report": True}
    return {
        "first_report": False,
        "previous_period": previous.get("period"),
        "alerts_delta": int(current["alerts"]) - int(previous.get("alerts", 0)),
        "new_techniques": sorted(set(current["all_techniques"]) - set(previous.get("all_techniques", []))),
        "new_indicators": sorted(set(current["all_indicators"]) - set(previous.get("all_indicators", []))),
        "new_hosts": sorted(set(current["all_hosts"]) - set(previous.get("all_hosts", []))),
        "techniques_no_longer_seen": sorted(
            set(previous.get("all_techniques", [])) - set(current["all_techniques"])
        ),
    }


def _table(headers: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def _changes_lines(changes: Mapping[str, Any]) -> list[str]:
    if changes.get("first_report"):
        return ["This is the first report: there is nothing earlier to compare with."]
    lines = [f"- Alerts: {changes['alerts_delta']:+d} compared with the previous report."]
    for key, label in (
        ("new_techniques", "New techniques"),
        ("new_indicators", "Indicators seen for the first time"),
        ("new_hosts", "Hosts targeted for the first time"),
        ("techniques_no_longer_seen", "Techniques no longer seen"),
    ):
        items = changes.get(key) or []
        lines.append(
            f"- {label}: {', '.join(items[:_TOP]) + (' ...' if len(items) > _TOP else '') or 'none'}"
        )
    return lines


def render_markdown(summary: Mapping[str, Any], changes: Mapping[str, Any]) -> str:
    """The report as Markdown."""
    period = summary["period"]
    outcomes = summary["outcomes"]
    severities = ", ".join(f"{n} {s}" for s, n in summary["severities"].items()) or "none"
    closed = ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in outcomes.items()) or "none"
    lines = [
        "# Threat intelligence report",
        "",
        f"Period: {period['start']} to {period['end']}.",
        "",
        "## In brief",
        "",
        f"- {summary['alerts']} alerts ({severities}).",
        f"- Incidents closed: {sum(outcomes.values())} ({closed}).",
        "",
        "## What changed since the last report",
        "",
        *_changes_lines(changes),
        "",
        "## Assets and data targeted",
        "",
        *_table(["Host", "Alerts"], summary["targeted_hosts"]),
        "",
        *_table(["User", "Alerts"], summary["targeted_users"]),
        "",
        *_table(["Data source", "Alerts"], summary["targeted_data"]),
        "",
        "## Techniques seen (ATT&CK)",
        "",
        *_table(["Technique", "Name", "Alerts"], summary["techniques"]),
        "",
        "## Indicators seen",
        "",
        *_table(["Type", "Value", "Feed", "Events"], summary["indicators"]),
        "",
    ]
    return "\n".join(lines)


def _html_table(headers: list[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(summary: Mapping[str, Any], changes: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    period = summary["period"]
    changes_html = "".join(f"<li>{html.escape(line.lstrip('- '))}</li>" for line in _changes_lines(changes))
    severities = ", ".join(f"{n} {s}" for s, n in summary["severities"].items()) or "none"
    outcomes = ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in summary["outcomes"].items()) or "none"
    sections = [
        (
            "Assets and data targeted",
            _html_table(["Host", "Alerts"], summary["targeted_hosts"])
            + _html_table(["User", "Alerts"], summary["targeted_users"])
            + _html_table(["Data source", "Alerts"], summary["targeted_data"]),
        ),
        ("Techniques seen (ATT&CK)", _html_table(["Technique", "Name", "Alerts"], summary["techniques"])),
        ("Indicators seen", _html_table(["Type", "Value", "Feed", "Events"], summary["indicators"])),
    ]
    body = "".join(f"<h2>{html.escape(title)}</h2>{content}" for title, content in sections)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Threat intelligence report</title>'
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;color:#222}"
        "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;"
        "text-align:left}th{background:#f2f2f2}</style></head><body>"
        "<h1>Threat intelligence report</h1>"
        f"<p>Period: {html.escape(period['start'])} to {html.escape(period['end'])}.</p>"
        f"<h2>In brief</h2><ul><li>{summary['alerts']} alerts ({html.escape(severities)}).</li>"
        f"<li>Incidents closed: {html.escape(outcomes)}.</li></ul>"
        f"<h2>What changed since the last report</h2><ul>{changes_html}</ul>{body}</body></html>"
    )


def write_report(
    folder: Path, summary: dict[str, Any], now: dt.datetime
) -> tuple[Path, Path, dict[str, Any]]:
    """Write Markdown, HTML and the JSON summary; compare with the latest earlier summary in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    earlier = sorted(folder.glob("report-*.json"))
    previous = json.loads(earlier[-1].read_text(encoding="utf-8")) if earlier else None
    changes = changes_since(summary, previous)
    stem = folder / f"report-{now.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%S')}"
    markdown, page = stem.with_suffix(".md"), stem.with_suffix(".html")
    markdown.write_text(render_markdown(summary, changes), encoding="utf-8")
    page.write_text(render_html(summary, changes), encoding="utf-8")
    stem.with_suffix(".json").write_text(json.dumps(summary, default=str), encoding="utf-8")
    return markdown, page, changes
