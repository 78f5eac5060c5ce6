"""Command-line commands of detection: `rules load|list|test`, `detect`, `alerts list`.

Standalone click objects that the main `watchfloor` group attaches; each takes the resolved `Settings`
from `ctx.obj` and leaves the work to `watchfloor.detect`.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections import Counter
from pathlib import Path

import click

from watchfloor.cases import from_detection, open_database, receive_alerts
from watchfloor.cli.common import echo_json, settings_of
from watchfloor.config import Settings
from watchfloor.detect import AlertStore, LoadResult, RuleLibrary, match_rules, run_detection
from watchfloor.errors import ConfigError
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

__all__ = ["alerts", "detect", "rules"]

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _library(settings: Settings) -> RuleLibrary:
    placeholders = settings.extra.get("placeholders")
    return RuleLibrary(settings.data_dir / "rules", placeholders if isinstance(placeholders, dict) else None)


def _report_errors(result: LoadResult) -> None:
    for error in result.errors:
        click.echo(f"error: {error}", err=True)


def _parse_since(text: str | None) -> dt.datetime | None:
    """`24h`, `7d`, `30m` before now, or an ISO date/time (UTC if no zone)."""
    if not text:
        return None
    found = _DURATION.match(text)
    if found:
        return dt.datetime.now(dt.UTC) - dt.timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--since {text!r}: expected a duration like 24h or an ISO date") from exc
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@click.group()
def rules() -> None:
    """Manage the installation's Sigma rules."""


@rules.command("load")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rules_load(ctx: click.Context, path: Path, as_json: bool) -> None:
    """Add a Sigma rule file or folder to the installation's rules."""
    library = _library(settings_of(ctx))
    library.add(path)
    result = library.load()
    counts = Counter(r.status for r in result.rules)
    if as_json:
        echo_json({"counts": dict(counts), "errors": [str(e) for e in result.errors]})
        return
    _report_errors(result)
    click.echo(
        f"{len(result.rules)} rules: {counts['active']} active, {counts['unsupported']} unsupported, "
        f"{counts['disabled']} disabled; {len(result.errors)} unreadable files"
    )


@rules.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=click.Choice(["active", "unsupported", "disabled"]), default=None)
@click.pass_context
def rules_list(ctx: click.Context, as_json: bool, status: str | None) -> None:
    """List the installation's rules with their status (and why, when not active)."""
    result = _library(settings_of(ctx)).load()
    listed = [r for r in result.rules if status is None or r.status == status]
    if as_json:
        echo_json([r.as_dict() for r in listed])
        return
    _report_errors(result)
    for rule in listed:
        why = f"  ({rule.reason})" if rule.reason else ""
        click.echo(f"{rule.id}  {rule.status:<11} {rule.title}{why}")


@rules.command("test")
@click.argument("rule_path", type=click.Path(exists=True, path_type=Path))
@click.argument("samples", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def rules_test(rule_path: Path, samples: tuple[Path, ...], as_json: bool) -> None:
    """Run rules (file or folder) over sample log files in a scratch store; print matches per rule."""
    result = RuleLibrary(Path("/nonexistent")).load([rule_path])
    with tempfile.TemporaryDirectory(prefix="watchfloor-rules-test-") as scratch:
        root = Path(scratch)
        store = DuckDBEventStore(root / "events")
        ingest_paths(list(samples), store, root / "quarantine")
        matches, _ = match_rules(store, result.rules)
    hits = Counter(m.rule_id for m in matches)
    rows = [{**r.as_dict(), "matches": hits.get(r.id, 0)} for r in result.rules]
    if as_json:
        echo_json(rows)
        return
    _report_errors(result)
    for row in rows:
        click.echo(f"{row['id']}  {row['status']:<11} {row['matches']:>6} matches  {row['title']}")


@click.command()
@click.option("--since", default=None, help="Only events since: a duration (24h, 7d) or an ISO date.")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Run these rules instead of the installation's.",
)
@click.option(
    "--db",
    "db_url",
    envvar="WATCHFLOOR_DB",
    default=None,
    help="Incident database URL (default: $WATCHFLOOR_DB, else SQLite in the data directory).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def detect(
    ctx: click.Context, since: str | None, rules_path: Path | None, db_url: str | None, as_json: bool
) -> None:
    """Run active rules over stored events, record alerts and hand the new ones to incident management."""
    settings = settings_of(ctx)
    run = run_detection(
        DuckDBEventStore(settings.events_dir),
        _library(settings),
        AlertStore(settings.data_dir / "alerts"),
        _parse_since(since),
        rules_path,
    )
    database = open_database(db_url, settings.data_dir)
    try:
        with database.session() as session:
            intake = receive_alerts(session, from_detection(run.new_alerts))
    finally:
        database.close()
    if as_json:
        echo_json(
            {**run.as_dict(), "incidents_opened": len(intake.opened), "alerts_joined": len(intake.joined)}
        )
        return
    _report_errors(run.loaded)
    summary = run.as_dict()
    click.echo(
        f"{summary['rules_active']} active rules, {run.matches} matches, {len(run.alerts)} alerts "
        f"({len(run.new_alerts)} new); {len(intake.opened)} incidents opened, {len(intake.joined)} alerts "
        "joined open incidents"
    )


@click.group()
def alerts() -> None:
    """Alerts (OCSF Detection Findings) raised by detection."""


@alerts.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def alerts_list(ctx: click.Context, as_json: bool) -> None:
    """List stored alerts."""
    docs = AlertStore(settings_of(ctx).data_dir / "alerts").list()
    if as_json:
        echo_json(docs)
        return
    for doc in docs:
        info = doc["finding_info"]
        click.echo(
            f"{doc.get('time') or '-'}  {doc.get('severity') or '-':<13} {doc['rule_id']}  {info['title']}"
        )
