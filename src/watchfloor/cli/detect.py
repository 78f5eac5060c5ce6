"""Command-line commands of detection: `rules ...`, `detect`, `alerts list`.

The `rules` group: `load`, `list`, `test` (samples), `suppress`, `suppressions`, `unsuppress`.

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

from watchfloor.cases import detect_intel, from_detection, open_database, receive_alerts
from watchfloor.cli.common import echo_json, settings_of
from watchfloor.config import Settings
from watchfloor.detect import (
    AlertStore,
    LoadResult,
    RegressionIndex,
    RuleCheck,
    RuleError,
    RuleLibrary,
    SuppressionStore,
    collect_samples,
    find_regression_roots,
    is_synthetic,
    load_rules,
    match_rules,
    parse_condition,
    run_detection,
    run_samples,
    validate_for_duckdb,
)
from watchfloor.errors import ConfigError, Location
from watchfloor.ingest import ingest_paths
from watchfloor.respond.handoff import Automation
from watchfloor.store import open_store

__all__ = ["alerts", "detect", "rules"]

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _library(settings: Settings) -> RuleLibrary:
    return RuleLibrary.from_settings(settings)


def _suppressions(settings: Settings) -> SuppressionStore:
    library = _library(settings)
    assert library.suppressions is not None  # from_settings always sets it
    return library.suppressions


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
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--regression",
    "regression",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A SigmaHQ regression_data folder (also: regression_data in watchfloor.toml).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rules_test(
    ctx: click.Context, paths: tuple[Path, ...], regression: tuple[Path, ...], as_json: bool
) -> None:
    """Run each rule's positive and negative samples (PATH: those rules; none: the installation's).

    Disabled rules are skipped; an unsupported rule with samples fails.

    With more than one path (`rules test RULES LOGFILE...`), the rules are instead run over the log
    files and their match counts printed.
    """
    settings = settings_of(ctx)
    library = _library(settings)
    if len(paths) > 1:
        _match_counts(library, paths[0], paths[1:], as_json)
        return
    if paths:
        result = load_rules([paths[0]], (), library.placeholders, validate_for_duckdb)
    else:
        result = library.load()
    roots = [*regression, *_configured_regression(settings)]
    roots += [r for r in find_regression_roots(r.path for r in result.rules) if r not in roots]
    testable = [r for r in result.rules if r.status != "disabled"]
    samples, checks = collect_samples(testable, [RegressionIndex(root) for root in roots])
    with tempfile.TemporaryDirectory(prefix="watchfloor-rules-test-") as scratch:
        checks += run_samples(result.rules, samples, Path(scratch))
    failed = [c for c in checks if not c.passed]
    if as_json:
        echo_json([c.as_dict() for c in checks])
    else:
        _report_errors(result)
        for check in checks:
            _echo_check(check)
        untested = len(testable) - len(checks)
        click.echo(
            f"{len(checks)} rules tested: {len(checks) - len(failed)} passed, {len(failed)} failed; "
            f"{untested} rules without samples, {len(result.rules) - len(testable)} disabled"
        )
    if failed:
        names = ", ".join(c.id for c in failed[:3]) + (", ..." if len(failed) > 3 else "")
        raise RuleError(f"{len(failed)} of {len(checks)} rules failed their samples: {names}")


def _configured_regression(settings: Settings) -> list[Path]:
    value = settings.extra.get("regression_data")
    if value is None:
        return []
    if not isinstance(value, str):
        raise ConfigError("regression_data must be a path", Location(field="regression_data"))
    return [settings.data_dir / Path(value).expanduser()]


def _echo_check(check: RuleCheck) -> None:
    counts = f"{check.positives} positive, {check.negatives} negative"
    if check.passed:
        click.echo(f"PASS  {check.id}  {check.title}  ({counts})")
        return
    click.echo(f"FAIL  {check.id}  {check.title}  ({counts})")
    for failure in check.failures:
        click.echo(f"        {failure}")


def _match_counts(library: RuleLibrary, rule_path: Path, samples: tuple[Path, ...], as_json: bool) -> None:
    """Run rules (file or folder) over sample log files in a scratch store; print matches per rule."""
    result = load_rules([rule_path], (), library.placeholders, validate_for_duckdb)
    with tempfile.TemporaryDirectory(prefix="watchfloor-rules-test-") as scratch:
        root = Path(scratch)
        store = open_store(root / "events")
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


@rules.command("suppress")
@click.argument("rule_id")
@click.option("--owner", required=True, help="Who answers for it.")
@click.option("--reason", required=True, help="Why these matches are not worth an alert.")
@click.option("--expires", required=True, help="Last day it applies (YYYY-MM-DD), at most 365 days ahead.")
@click.option("--where", "where", multiple=True, help="FIELD=VALUE (equals) or FIELD~VALUE (contains).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rules_suppress(
    ctx: click.Context,
    rule_id: str,
    owner: str,
    reason: str,
    expires: str,
    where: tuple[str, ...],
    as_json: bool,
) -> None:
    """Silence a rule (RULE_ID or '*'), or with --where only its matches on those values, until a date."""
    try:
        until = dt.date.fromisoformat(expires)
    except ValueError as exc:
        raise ConfigError(f"--expires {expires!r}: expected a date like 2026-12-31") from exc
    entry = _suppressions(settings_of(ctx)).add(
        rule_id, owner, reason, until, [parse_condition(w) for w in where]
    )
    if as_json:
        echo_json(entry.as_dict(dt.datetime.now(dt.UTC).date()))
        return
    scope = " and ".join(str(c) for c in entry.conditions) or "every match"
    click.echo(
        f"{entry.id}: {entry.rule_id} suppressed for {scope} until {entry.expires} (owner {entry.owner})"
    )


@rules.command("suppressions")
@click.option("--all", "show_all", is_flag=True, help="Include expired entries.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rules_suppressions(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List suppressions and exceptions in force (with --all, expired ones too)."""
    found = _suppressions(settings_of(ctx)).read()
    today = dt.datetime.now(dt.UTC).date()
    docs = [s.as_dict(today) for s in found.items if show_all or s.active(today)]
    if as_json:
        echo_json(docs)
        return
    for error in found.errors:
        click.echo(f"error: {error}", err=True)
    for doc in docs:
        scope = (
            ", ".join(
                f"{c['field']} {'equals' if 'equals' in c else 'contains'} "
                f"{c.get('equals', c.get('contains'))}"
                for c in doc.get("where", [])
            )
            or "all"
        )
        click.echo(
            f"{doc['id']}  {doc['status']:<7} until {doc['expires']}  {doc['rule']}  [{scope}]  "
            f"{doc['owner']}: {doc['reason']}"
        )


@rules.command("unsuppress")
@click.argument("suppression_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rules_unsuppress(ctx: click.Context, suppression_id: str, as_json: bool) -> None:
    """Remove a suppression or exception by its id (the removal is logged)."""
    entry = _suppressions(settings_of(ctx)).remove(suppression_id)
    if as_json:
        echo_json(entry.as_dict())
        return
    click.echo(f"{entry.id} removed: {entry.rule_id} is no longer suppressed by it")


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
    events, alert_store, start = (
        open_store(settings.events_dir),
        AlertStore(settings.data_dir / "alerts"),
        _parse_since(since),
    )
    run = run_detection(events, _library(settings), alert_store, start, rules_path)
    intel_matches, intel_new = detect_intel(
        settings, events, alert_store, start
    )  # live threat-intel indicators
    database = open_database(db_url, settings.data_dir)
    try:
        automation = Automation.for_settings(settings)
        with database.session() as session:
            real = [a for a in (*run.new_alerts, *intel_new) if not is_synthetic(a)]  # not canaries
            intake = receive_alerts(session, from_detection(real))
            queued = automation.queue(session, intake)
        playbook_runs = automation.run(database, queued)
    finally:
        database.close()
    if as_json:
        echo_json(
            {
                **run.as_dict(),
                "intel_matches": len(intel_matches),
                "intel_alerts_new": len(intel_new),
                "incidents_opened": len(intake.opened),
                "alerts_joined": len(intake.joined),
                "playbook_runs": [
                    {"id": r.id, "playbook": r.playbook, "state": r.state} for r in playbook_runs
                ],
            }
        )
        return
    _report_errors(run.loaded)
    for error in run.suppression_errors:
        click.echo(f"error: {error}", err=True)
    summary = run.as_dict()
    click.echo(
        f"{summary['rules_active']} active rules, {run.matches} matches "
        f"({summary['suppressed']} suppressed), "
        f"{len(run.alerts)} alerts "
        f"({len(run.new_alerts)} new); {len(intel_matches)} intel matches ({len(intel_new)} new alerts); "
        f"{len(intake.opened)} incidents opened, {len(intake.joined)} alerts "
        "joined open incidents"
    )
    for playbook_run in playbook_runs:
        click.echo(
            f"playbook {playbook_run.playbook} on incident #{playbook_run.incident_id}: {playbook_run.state}"
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
