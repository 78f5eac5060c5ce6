"""`watchfloor metrics`: MTTA, MTTR, tiers, escalations, automation share, SLA breaches; `metrics fidelity`.

Both read the incident database (`--db URL`, else `$WATCHFLOOR_DB`, else SQLite in the data directory)
and the `[metrics]` and `[fidelity]` tables of `watchfloor.toml`. Output is a text report, `--json`, or
with `--csv PATH` one row per incident in a file.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import click

from watchfloor.cases import Actor, FidelityPolicy, Role, open_database, review_feeds
from watchfloor.cli.common import echo_json, settings_of
from watchfloor.errors import ConfigError, Location
from watchfloor.metrics import (
    GROUPINGS,
    FidelityReport,
    MetricsConfig,
    MetricsQuery,
    MetricsReport,
    Summary,
    compute_metrics,
    fidelity_report,
    format_duration,
    write_csv,
)

__all__ = ["metrics"]

_RELATIVE = re.compile(r"^(\d+)([hdw])$")
_UNIT = {"h": "hours", "d": "days", "w": "weeks"}


def _when(text: str | None, flag: str, now: dt.datetime) -> dt.datetime | None:
    """An ISO date or time (UTC unless it names a zone), or `7d`, `12h`, `2w` before now."""
    if text is None:
        return None
    found = _RELATIVE.match(text.strip())
    if found:
        return now - dt.timedelta(**{_UNIT[found.group(2)]: int(found.group(1))})
    try:
        parsed = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"invalid time {text!r} (ISO 8601 or 7d/12h/2w)", Location(field=flag)) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _summary(label: str, s: Summary) -> str:
    mean, median, p90 = (format_duration(v) for v in (s.mean, s.median, s.p90))
    return f"{label:<22} {s.count:>6} {mean:>10} {median:>10} {p90:>10}"


def _print_report(report: MetricsReport, by: str) -> None:
    span = f"{report.start or 'beginning'} .. {report.end or 'now'}"
    kind = "exercise incidents" if report.exercises else "incidents"
    clock = "business hours" if report.business_hours else "wall clock"
    click.echo(f"{report.incidents} {kind} opened {span} ({clock})")
    click.echo(
        f"  acknowledged {report.acknowledged}, remediated {report.remediated}, closed {report.closed}"
    )
    click.echo(f"{'':<22} {'count':>6} {'mean':>10} {'median':>10} {'p90':>10}")
    click.echo(_summary("MTTA", report.mtta))
    click.echo(_summary("MTTR", report.mttr))
    share = report.remediation
    click.echo(
        f"remediation: manual {share.manual} ({_pct(share.manual_share)}), "
        f"automated {share.automated} ({_pct(share.automated_share)})"
    )
    rate = report.escalation_rate
    click.echo(
        f"escalations {report.escalations} ({0 if rate is None else rate:.2f} per incident), "
        f"de-escalations {report.deescalations}, reopened {report.reopened} "
        f"(reopen rate {_pct(report.reopen_rate)})"
    )
    for move in report.tier_moves:
        click.echo(f"  {move.direction:<12} tier{move.from_tier}->tier{move.to_tier} {move.count:>5}")
    for tier in report.tiers:
        click.echo(
            f"  time in tier{tier.tier}: {format_duration(tier.seconds)} over {tier.incidents} incidents "
            f"(mean {format_duration(tier.mean_seconds)})"
        )
    click.echo(f"by {by}:")
    for group in report.groups.get(by, []):
        click.echo(_summary(f"  {group.key} MTTA", group.mtta) + f"   ({group.incidents} incidents)")
        click.echo(_summary(f"  {group.key} MTTR", group.mttr))
    click.echo("per day:")
    for point in report.daily:
        click.echo(_summary(f"  {point.period} MTTA", point.mtta) + f"   ({point.incidents} incidents)")
    click.echo(f"SLA breaches: {len(report.breaches)}")
    for breach in report.breaches:
        running = " (still running)" if breach.running else ""
        click.echo(
            f"  #{breach.incident_id} {breach.severity} {breach.clock}: target "
            f"{format_duration(breach.target_s)}, actual {format_duration(breach.actual_s)}{running}"
        )


@click.group(invoke_without_command=True)
@click.option("--from", "start", default=None, help="Incidents opened at or after (ISO time, or 7d/12h).")
@click.option("--to", "end", default=None, help="Incidents opened before (ISO time, or 7d/12h ago).")
@click.option("--by", type=click.Choice(list(GROUPINGS)), default="severity", show_default=True)
@click.option("--exercises", is_flag=True, help="Show exercise incidents only (they are left out otherwise).")
@click.option(
    "--business-hours/--wall-clock",
    "business_hours",
    default=None,
    help="Count only business hours (default: [metrics] business_hours_only).",
)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--db", "db_url", envvar="WATCHFLOOR_DB", default=None, help="Incident database URL.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def metrics(
    ctx: click.Context,
    start: str | None,
    end: str | None,
    by: str,
    exercises: bool,
    business_hours: bool | None,
    csv_path: Path | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """SOC metrics from the audit log: MTTA, MTTR, tiers, escalations, automation share, SLA breaches."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_of(ctx)
    now = dt.datetime.now(dt.UTC)
    query = MetricsQuery(
        start=_when(start, "--from", now),
        end=_when(end, "--to", now),
        exercises=exercises,
        business_hours=business_hours,
        config=MetricsConfig.from_config(settings.extra.get("metrics")),
        now=now,
    )
    database = open_database(db_url, settings.data_dir)
    try:
        with database.session() as session:
            report = compute_metrics(session, query)
    finally:
        database.close()
    if csv_path is not None:
        with csv_path.open("w", encoding="utf-8", newline="") as out:
            written = write_csv(report, out)
        if not as_json:
            click.echo(f"wrote {written} incidents to {csv_path}")
    if as_json:
        echo_json(report.as_dict())
    elif csv_path is None:
        _print_report(report, by)


def _print_fidelity(report: FidelityReport) -> None:
    policy = report.policy
    days = policy.window.total_seconds() / 86400
    click.echo(
        f"alert-feed fidelity: threshold {policy.threshold:.0%} ({policy.basis}), window {days:g} days, "
        f"at least {policy.min_verdicts} verdicts"
    )
    for feed in report.feeds:
        rec = feed.record
        low, high = rec.wilson
        state = "TUNING" if feed.status.demoted else "queues"
        click.echo(
            f"  {rec.feed.kind:<6} {rec.feed.name:<40} {state:<6} {rec.true_positives:>4}/{rec.verdicts:<4} "
            f"rate {_pct(rec.rate):>5}  wilson {low:.2f}..{high:.2f}"
        )
    click.echo(f"changes: {len(report.changes)}")
    for change in report.changes:
        click.echo(
            f"  {change.at:%Y-%m-%d %H:%M} {change.action} {change.target_id}: {change.after.get('reason')}"
        )


@metrics.command("fidelity")
@click.option(
    "--review", is_flag=True, help="Re-judge every known feed now (the window rolls even without closures)."
)
@click.option("--db", "db_url", envvar="WATCHFLOOR_DB", default=None, help="Incident database URL.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def fidelity(ctx: click.Context, review: bool, db_url: str | None, as_json: bool) -> None:
    """The 90% rule: each rule's and source's true-positive record, which are in tuning, and every change."""
    settings = settings_of(ctx)
    policy = FidelityPolicy.from_config(settings.extra.get("fidelity"))
    database = open_database(db_url, settings.data_dir)
    try:
        with database.session() as session:
            report = fidelity_report(session, policy)
            if review:
                actor = Actor("system:fidelity", Role.ADMIN)
                review_feeds(session, actor, [f.record.feed for f in report.feeds], policy)
                report = fidelity_report(session, policy)
    finally:
        database.close()
    if as_json:
        echo_json(report.as_dict())
    else:
        _print_fidelity(report)
