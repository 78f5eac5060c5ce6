"""`watchfloor intel ...`: feeds, search, retro-hunt and verdict feedback.

Matches become alerts in `watchfloor detect` (through `cases.detect_intel`), not here: `intel hunt` only
lists what the live indicators would match.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from watchfloor.cases import IncidentFilter, Verdict, list_incidents, open_database, show_incident
from watchfloor.cli.common import echo_json, settings_of
from watchfloor.detect import AlertStore, RuleLibrary, attack_from_tags
from watchfloor.errors import ConfigError
from watchfloor.intel import (
    FEED_KINDS,
    FeedInfo,
    IntelError,
    ReportAlert,
    RuleCoverage,
    attack_matrix,
    build_summary,
    coverage,
    hunt,
    intel_store,
    navigator_layer,
    policy_of,
    pull,
    record_verdicts,
    write_report,
)
from watchfloor.store import DuckDBEventStore

__all__ = ["intel"]

_PAGE = 500
#: Verdicts that say an intel alert was right (as the fidelity rule counts them) or wrong; others say nothing.
_TRUE = frozenset({Verdict.TRUE_POSITIVE.value, Verdict.BENIGN_TRUE_POSITIVE.value})
_FALSE = frozenset({Verdict.FALSE_POSITIVE_LOGIC.value, Verdict.FALSE_POSITIVE_DATA.value})


@click.group()
def intel() -> None:
    """Threat intelligence: feeds, indicators, matching and feedback."""


@intel.command("add-feed")
@click.argument("location")
@click.option("--name", required=True, help="Feed name (letters, digits, - and _).")
@click.option("--kind", type=click.Choice(sorted(FEED_KINDS)), required=True)
@click.option("--collection", default=None, help="TAXII collection id (LOCATION is the API root URL).")
@click.option("--column", "columns", multiple=True, help="CSV: ATTRIBUTE=HEADER, e.g. value=ioc type=kind.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def add_feed(
    ctx: click.Context,
    location: str,
    name: str,
    kind: str,
    collection: str | None,
    columns: tuple[str, ...],
    as_json: bool,
) -> None:
    """Add a feed: a file, folder or URL (stix, misp, csv), or a TAXII API root with --collection."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"--name {name!r}: use letters, digits, - and _")
    mapping: dict[str, str] = {}
    for item in columns:
        attribute, sep, header = item.partition("=")
        if not sep:
            raise ConfigError(f"--column {item!r}: expected ATTRIBUTE=HEADER")
        mapping[attribute.strip()] = header.strip()
    if kind == "taxii" and not collection:
        raise ConfigError("a TAXII feed needs --collection")
    if not location.startswith(("http://", "https://")):
        path = Path(location).expanduser()
        if not path.exists():
            raise ConfigError(f"{location}: no such file or folder")
        location = str(path.resolve())
    options = {"columns": mapping} if mapping else {}
    feed = FeedInfo(name=name, kind=kind, location=location, collection=collection, options=options)
    intel_store(settings_of(ctx)).add_feed(feed)
    if as_json:
        echo_json(feed.as_dict())
        return
    click.echo(f"feed {name} added ({kind}, {location}); run `watchfloor intel pull` to fetch it")


@intel.command("pull")
@click.option("--feed", "feed_name", default=None, help="Only this feed.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def pull_command(ctx: click.Context, feed_name: str | None, as_json: bool) -> None:
    """Fetch every feed (or one) now and store its indicators."""
    results = pull(settings_of(ctx), feed_name)
    if as_json:
        echo_json([r.as_dict() for r in results])
    else:
        for result in results:
            status = f"error: {result.error}" if result.error else "ok"
            click.echo(
                f"{result.feed}: {result.stored} indicators, "
                f"{len(result.parsed.unsupported)} unsupported; {status}"
            )
            for skipped in result.parsed.unsupported[:3]:
                click.echo(f"  unsupported {skipped.origin}: {skipped.reason}")
    failed = [r for r in results if r.error]
    if failed:
        raise IntelError(f"{len(failed)} of {len(results)} feeds failed: {failed[0].feed}: {failed[0].error}")


@intel.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Feeds with their live indicators, sightings, verdicts and last pull."""
    feeds = intel_store(settings_of(ctx)).feeds()
    if as_json:
        echo_json([f.as_dict() for f in feeds])
        return
    for f in feeds:
        pulled = f.last_pull.isoformat(timespec="seconds") if f.last_pull else "never"
        click.echo(
            f"{f.name}  {f.kind:<5} {f.indicators:>9} live  {f.sightings:>6} sightings  "
            f"tp={f.true_positives} fp={f.false_positives}  last pull {pulled}"
            + (f"  error: {f.last_error}" if f.last_error else "")
        )


@intel.command("search")
@click.argument("value")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def search_command(ctx: click.Context, value: str, as_json: bool) -> None:
    """Every feed's statement of a value, with its confidence now."""
    settings = settings_of(ctx)
    rows = intel_store(settings).search(value, policy_of(settings))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"{value}: not in any feed")
    for row in rows:
        click.echo(
            f"{row['type']} {row['value']}  feed={row['feed']} confidence={row['confidence']} "
            f"(feed said {row['feed_confidence']}) tlp={row['tlp']} {row['status']}"
            f"  tp={row['true_positives']} fp={row['false_positives']}"
        )


@intel.command("hunt")
@click.option("--days", type=int, default=None, help="Window in days (default: [intel] window_days, 30).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def hunt_command(ctx: click.Context, days: int | None, as_json: bool) -> None:
    """Retro-hunt: list stored events of the window that hold a live indicator (nothing is recorded)."""
    settings = settings_of(ctx)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days) if days else None
    matches = hunt(settings, DuckDBEventStore(settings.events_dir), since)
    if as_json:
        echo_json([m.as_dict() for m in matches])
        return
    for m in matches:
        when = m.time.isoformat() if m.time else "-"
        click.echo(
            f"{when}  {m.source}  {m.field}={m.observed}  {m.indicator_type} ({m.feed}, {m.confidence})"
        )
    click.echo(f"{len(matches)} matches")


@intel.command("feedback")
@click.option("--db", "db_url", envvar="WATCHFLOOR_DB", default=None, help="Incident database URL.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feedback_command(ctx: click.Context, db_url: str | None, as_json: bool) -> None:
    """Read the verdicts of closed incidents with intel alerts and adjust indicator and feed confidence."""
    settings = settings_of(ctx)
    verdicts: list[tuple[str, bool]] = []
    database = open_database(db_url, settings.data_dir)
    try:
        with database.session() as session:
            after = None
            while True:
                page = list_incidents(
                    session, IncidentFilter(states=("closed",), sort="oldest", limit=_PAGE, after=after)
                )
                for summary in page:
                    if summary.verdict not in _TRUE | _FALSE:
                        continue
                    detail = show_incident(session, summary.id)
                    verdicts += [
                        (a.uid, summary.verdict in _TRUE)
                        for a in detail.alerts
                        if a.rule_id.startswith("intel:")
                    ]
                if len(page) < _PAGE:
                    break
                after = page[-1].id
    finally:
        database.close()
    stored = record_verdicts(intel_store(settings), verdicts)
    if as_json:
        echo_json({"verdicts": stored})
        return
    click.echo(f"{stored} intel alert verdicts applied")


@intel.command("coverage")
@click.option("--days", type=int, default=7, help="A source counts when it stored events in the last N days.")
@click.option("--layer", "layer_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def coverage_command(ctx: click.Context, days: int, layer_path: Path | None, as_json: bool) -> None:
    """ATT&CK coverage: techniques with an active rule whose source sends data (--layer: Navigator 4.5)."""
    settings = settings_of(ctx)
    loaded = RuleLibrary.from_settings(settings).load()
    rules = [
        RuleCoverage(rule.id, tuple(t["uid"] for t in attack_from_tags(rule.tags)[1]), rule.source)
        for rule in loaded.rules
        if rule.status == "active"
    ]
    first_day = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)).isoformat()
    sending = [
        s.name for s in DuckDBEventStore(settings.events_dir).sources() if s.days and s.days[-1] >= first_day
    ]
    result = coverage(rules, sending)
    if layer_path is not None:
        layer_path.write_text(json.dumps(navigator_layer(result), indent=1), encoding="utf-8")
    if as_json:
        echo_json(result.as_dict())
        return
    summary = result.as_dict()
    click.echo(
        f"ATT&CK v{summary['attack_version']}: {summary['covered']} of {summary['techniques']} techniques "
        f"covered by {len(rules)} active rules over {len(sending)} sources sending data; "
        f"{summary['rules_without_data']} more have rules but no data"
        + (f"; layer written to {layer_path}" if layer_path else "")
    )


def _report_alerts(docs: list[dict[str, Any]]) -> list[ReportAlert]:
    """Stored Detection Findings as the report counts them."""
    out = []
    for doc in docs:
        when = dt.datetime.fromisoformat(str(doc["time"])) if doc.get("time") else None
        entities = doc.get("entities") or []
        info = doc.get("finding_info") or {}
        attacks = info.get("attacks", []) if isinstance(info, dict) else []
        evidences = doc.get("evidences") or []
        out.append(
            ReportAlert(
                time=when if when is None or when.tzinfo else when.replace(tzinfo=dt.UTC),
                rule_id=str(doc.get("rule_id")),
                severity=str(doc.get("severity") or "") or None,
                source=str(evidences[0].get("source")) if isinstance(evidences, list) and evidences else None,
                hosts=tuple(
                    str(e["value"]) for e in entities if isinstance(e, dict) and e.get("type") == "host"
                ),
                users=tuple(
                    str(e["value"]) for e in entities if isinstance(e, dict) and e.get("type") == "user"
                ),
                techniques=tuple(str(a["technique"]["uid"]) for a in attacks if "technique" in a),
            )
        )
    return out


@intel.command("report")
@click.option("--days", type=int, default=7, help="The period: the last N days.")
@click.option("--db", "db_url", envvar="WATCHFLOOR_DB", default=None, help="Incident database URL.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def report_command(ctx: click.Context, days: int, db_url: str | None, as_json: bool) -> None:
    """Write the leadership intel report (Markdown and HTML) under DATA_DIR/intel/reports/."""
    settings = settings_of(ctx)
    end = dt.datetime.now(dt.UTC)
    start = end - dt.timedelta(days=days)
    alerts = _report_alerts(AlertStore(settings.data_dir / "alerts").list())
    store = intel_store(settings)
    sightings = [
        {"type": s.type, "value": s.value, "feed": s.feed, "time": s.time}
        for s in (store.sightings() if store.exists() else [])
    ]
    outcomes: dict[str, int] = {}
    database = open_database(db_url, settings.data_dir)
    try:
        with database.session() as session:
            after = None
            while True:
                page = list_incidents(
                    session, IncidentFilter(states=("closed",), sort="oldest", limit=_PAGE, after=after)
                )
                for summary in page:
                    if (
                        summary.verdict
                        and summary.closed_at
                        and summary.closed_at.replace(tzinfo=dt.UTC) >= start
                    ):
                        outcomes[summary.verdict] = outcomes.get(summary.verdict, 0) + 1
                if len(page) < _PAGE:
                    break
                after = page[-1].id
    finally:
        database.close()
    names = {t.id: t.name for t in attack_matrix().values()}
    summary_doc = build_summary(start, end, alerts, sightings, outcomes, names)
    markdown, page_path, changes = write_report(store.root / "reports", summary_doc, end)
    if as_json:
        echo_json(
            {"markdown": str(markdown), "html": str(page_path), "summary": summary_doc, "changes": changes}
        )
        return
    click.echo(f"report written: {markdown} and {page_path}")
