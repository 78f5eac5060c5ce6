"""SOC metrics from the audit log: a scripted SOC day at known times gives exactly the hand-computed figures.

The day (Monday 2 March 2026, times UTC) on SQLite and PostgreSQL; A..E are real incidents, X an exercise:

    A critical r-a/windows (host of service "payments")  open 09:00, ack 09:10, esc 1->2 09:20,
      remediated (automated) 10:10, closed true_positive 10:30
    B high r-b/linux     open 09:30, ack 10:00, remediated (manual) 12:00, closed 12:05,
      reopened 15:00, closed again 15:30
    C medium r-b/linux   open 10:00, ack 10:05, esc 1->2 10:30, esc 2->3 11:00, deesc 3->2 12:00,
      closed false_positive_logic (manual) 13:00 without a remediated step
    D low r-c/windows    open 11:00, ack 13:00, closed benign_true_positive (manual) 13:30
    E high r-a/windows   open 14:00, never acknowledged; the report is read at 17:00
    X exercise           open 09:05, ack 09:06

MTTA (s): A 600, B 1800, C 300, D 7200 -> mean 2475, median 1200, p90 (nearest rank 4 of 4) 7200.
MTTR (s): A 3600, B 7200, C 10500, D 1800 -> mean 5775, median 5400, p90 10500.
Remediation: manual B, C, D; automated A -> 3 and 1, shares 0.75 and 0.25.
Escalations 3 (1->2 twice, 2->3 once), de-escalations 1 (3->2): rates 0.6 and 0.2 over 5 incidents.
Reopen rate: 1 reopened of 4 ever closed = 0.25.
Tier time (s): tier1 A 1200, B 9300 + 1800 (closed 12:05..15:00 counts in no tier), C 1800, D 9000,
E 10800 (open until 17:00) = 33900 over 5; tier2 A 4200, C 1800 + 3600 = 9600 over 2; tier3 3600 over 1.
"""

# ruff: noqa: F811  (fixtures imported from test_cases_support are parameters of the tests)

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.test_cases_support import database, db_url, pg_schema_url, staff  # noqa: F401
from watchfloor.cases import (
    Actor,
    Database,
    IncomingAlert,
    Role,
    Severity,
    acknowledge,
    close,
    deescalate,
    escalate,
    receive_alerts,
    remediate,
    reopen,
    set_criticality,
)
from watchfloor.cli.app import cli
from watchfloor.metrics import (
    BusinessHours,
    MetricsConfig,
    MetricsQuery,
    compute_metrics,
    parse_duration,
    write_csv,
)
from watchfloor.metrics.clock import business_seconds
from watchfloor.metrics.values import percentile, summarize

DAY = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)  # a Monday
_CLOCKED = (
    "watchfloor.cases.audit",
    "watchfloor.cases.service",
    "watchfloor.cases.incidents",
    "watchfloor.cases.regroup",
    "watchfloor.cases.fidelity",
)


class Clock:
    """The one clock incident management reads, set by the test."""

    def __init__(self) -> None:
        self.now = DAY

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, hhmm: str, day: dt.datetime = DAY) -> dt.datetime:
        hours, minutes = map(int, hhmm.split(":"))
        self.now = day + dt.timedelta(hours=hours, minutes=minutes)
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """Freeze `utcnow` wherever incident management imported it."""
    fake = Clock()
    for module in _CLOCKED:
        monkeypatch.setattr(f"{module}.utcnow", fake)
    yield fake


def incoming(
    uid: str, at: dt.datetime, rule: str, source: str, severity: str, host: str, exercise: bool = False
) -> IncomingAlert:
    return IncomingAlert(
        uid=uid,
        rule_id=rule,
        rule_title=f"Rule {rule}",
        severity=severity,
        event_time=at - dt.timedelta(minutes=2),
        hosts=(host,),
        source=source,
        is_exercise=exercise,
    )


def _soc_day(database: Database, clock: Clock, staff: dict[str, Actor]) -> dict[str, int]:
    t1, t3 = staff["tier1"], staff["tier3"]
    ids: dict[str, int] = {}

    def step(hhmm: str, action: Callable[..., object], *args: object) -> None:
        clock.at(hhmm)
        with database.session() as session:
            action(session, *args)

    def open_(name: str, hhmm: str, rule: str, source: str, severity: str, exercise: bool = False) -> None:
        at = clock.at(hhmm)
        with database.session() as session:
            found = receive_alerts(
                session, [incoming(name, at, rule, source, severity, f"host-{name}", exercise)]
            )
            ids[name] = found.opened[0]

    with database.session() as session:
        set_criticality(session, Actor("setup", Role.ADMIN), "host", "host-A", "high", "payments")
    open_("A", "09:00", "r-a", "windows", "critical")
    open_("X", "09:05", "r-x", "windows", "low", exercise=True)
    step("09:06", acknowledge, t1, ids["X"], None)
    step("09:10", acknowledge, t1, ids["A"], None)
    step("09:20", escalate, t1, ids["A"], None, 2, "needs tier 2")
    open_("B", "09:30", "r-b", "linux", "high")
    open_("C", "10:00", "r-b", "linux", "medium")
    step("10:00", acknowledge, t1, ids["B"], None)
    step("10:05", acknowledge, t1, ids["C"], None)
    step("10:10", remediate, t3, ids["A"], None, "automated", ("isolated host",))
    step("10:30", close, t3, ids["A"], None, "true_positive")
    step("10:30", escalate, t1, ids["C"], None, 2, "lateral movement?")
    open_("D", "11:00", "r-c", "windows", "low")
    step("11:00", escalate, t3, ids["C"], None, 3, "lead it")
    step("12:00", remediate, t1, ids["B"], None, "manual", ("reset password",))
    step("12:00", deescalate, t3, ids["C"], None, 2, "runbook applies")
    step("12:05", close, t1, ids["B"], None, "true_positive")
    step("13:00", close, t3, ids["C"], None, "false_positive_logic", "manual")
    step("13:00", acknowledge, t1, ids["D"], None)
    step("13:30", close, t1, ids["D"], None, "benign_true_positive", "manual")
    open_("E", "14:00", "r-a", "windows", "high")
    step("15:00", reopen, t1, ids["B"], None, "it came back")
    step("15:30", close, t1, ids["B"], None, "true_positive", "manual")
    return ids


def _query(**kw: object) -> MetricsQuery:
    defaults: dict[str, object] = {
        "start": DAY,
        "end": DAY + dt.timedelta(days=1),
        "now": DAY + dt.timedelta(hours=17),
    }
    return MetricsQuery(**(defaults | kw))  # type: ignore[arg-type]


def test_scripted_soc_day(database: Database, clock: Clock, staff: dict[str, Actor]) -> None:
    ids = _soc_day(database, clock, staff)
    with database.session() as session:
        report = compute_metrics(session, _query())
    assert report.incidents == 5
    assert (report.acknowledged, report.remediated, report.closed) == (4, 4, 4)
    assert (report.mtta.count, report.mtta.mean, report.mtta.median, report.mtta.p90) == (4, 2475, 1200, 7200)
    assert (report.mttr.count, report.mttr.mean, report.mttr.median, report.mttr.p90) == (
        4,
        5775,
        5400,
        10500,
    )
    rows = {r.id: r for r in report.rows}
    assert [rows[ids[n]].mtta_s for n in "ABCDE"] == [600, 1800, 300, 7200, None]
    assert [rows[ids[n]].mttr_s for n in "ABCDE"] == [3600, 7200, 10500, 1800, None]
    share = report.remediation
    assert (share.manual, share.automated, share.manual_share, share.automated_share) == (3, 1, 0.75, 0.25)
    assert (report.escalations, report.deescalations) == (3, 1)
    assert (report.escalation_rate, report.deescalation_rate) == (0.6, 0.2)
    moves = {(m.direction, m.from_tier, m.to_tier): (m.count, m.rate) for m in report.tier_moves}
    assert moves == {
        ("escalation", 1, 2): (2, 0.4),
        ("escalation", 2, 3): (1, 0.2),
        ("deescalation", 3, 2): (1, 0.2),
    }
    assert (report.reopened, report.reopens, report.reopen_rate) == (1, 1, 0.25)
    tiers = {t.tier: (t.seconds, t.incidents) for t in report.tiers}
    assert tiers == {1: (33900, 5), 2: (9600, 2), 3: (3600, 1)}
    # groupings: an incident is in every group it belongs to; E has no MTTA yet
    by_rule = {g.key: (g.incidents, g.mtta.mean) for g in report.groups["rule"]}
    assert by_rule == {"r-a": (2, 600), "r-b": (2, 1050), "r-c": (1, 7200)}
    by_source = {g.key: (g.incidents, g.mttr.mean) for g in report.groups["source"]}
    assert by_source == {"linux": (2, 8850), "windows": (3, 2700)}
    by_service = {g.key: g.incidents for g in report.groups["service"]}
    assert by_service == {"payments": 1, "unknown": 4}
    by_tier = {g.key: g.incidents for g in report.groups["tier"]}
    assert by_tier == {"1": 3, "2": 2}
    by_severity = {g.key: (g.incidents, g.mtta.count) for g in report.groups["severity"]}
    assert by_severity == {"critical": (1, 1), "high": (2, 1), "medium": (1, 1), "low": (1, 1)}
    assert [(p.period, p.incidents) for p in report.daily] == [("2026-03-02", 5)]
    assert [(p.period, p.incidents) for p in report.weekly] == [("2026-W10", 5)]
    # SLA (defaults): only E breaches, its acknowledgement clock still running at 17:00 (3 h > 30 min)
    assert [(b.incident_id, b.clock, b.target_s, b.actual_s, b.running) for b in report.breaches] == [
        (ids["E"], "ack", 1800, 10800, True)
    ]
    # exercises are kept apart: only X with --exercises
    with database.session() as session:
        drills = compute_metrics(session, _query(exercises=True))
    assert [r.id for r in drills.rows] == [ids["X"]] and drills.mtta.mean == 60
    # the range selects by opening time
    with database.session() as session:
        morning = compute_metrics(session, _query(end=DAY + dt.timedelta(hours=10)))
    assert sorted(r.id for r in morning.rows) == sorted([ids["A"], ids["B"]])  # C opened at 10:00


def test_sla_targets_from_configuration(database: Database, clock: Clock, staff: dict[str, Actor]) -> None:
    ids = _soc_day(database, clock, staff)
    config = MetricsConfig.from_config(
        {"sla": {"critical": {"ack": "5m", "remediate": "30m"}, "low": {"ack": "1h"}}}
    )
    assert config.sla[Severity.LOW].remediate == dt.timedelta(days=3)  # not named: the default stays
    with database.session() as session:
        report = compute_metrics(session, _query(config=config))
    breaches = sorted((b.incident_id, b.clock, b.target_s, b.actual_s, b.running) for b in report.breaches)
    assert breaches == sorted(
        [
            (ids["A"], "ack", 300, 600, False),
            (ids["A"], "remediate", 1800, 3600, False),
            (ids["D"], "ack", 3600, 7200, False),
            (ids["E"], "ack", 1800, 10800, True),
        ]
    )
    with database.session() as session:
        first_alert = compute_metrics(session, _query(config=MetricsConfig(mtta_from="first_alert")))
    # the alerts' event times are two minutes before they arrived
    assert first_alert.mtta.mean == 2475 + 120


def test_csv_export(database: Database, clock: Clock, staff: dict[str, Actor]) -> None:
    ids = _soc_day(database, clock, staff)
    with database.session() as session:
        report = compute_metrics(session, _query())
    out = io.StringIO()
    assert write_csv(report, out) == 5
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    first = rows[0]
    assert first["id"] == str(ids["A"]) and first["severity"] == "critical" and first["tier"] == "2"
    assert (first["mtta_s"], first["mttr_s"], first["remediation"], first["verdict"]) == (
        "600.0",
        "3600.0",
        "automated",
        "true_positive",
    )
    assert first["opened"] == "2026-03-02T09:00:00+00:00" and first["escalations"] == "1"
    assert rows[-1]["acknowledged"] == "" and rows[-1]["mtta_s"] == ""


def test_business_hours_clocks(database: Database, clock: Clock, staff: dict[str, Actor]) -> None:
    """Opened Friday 16:30 Berlin, acknowledged Monday 09:15: 45 business minutes, not 2 days 17 hours."""
    friday = dt.datetime(2026, 3, 6, 15, 30, tzinfo=dt.UTC)  # 16:30 in Berlin (UTC+1 in March)
    monday = dt.datetime(2026, 3, 9, 8, 15, tzinfo=dt.UTC)  # 09:15 in Berlin
    clock.now = friday
    with database.session() as session:
        incident = receive_alerts(session, [incoming("w1", friday, "r-a", "windows", "high", "h")]).opened[0]
    clock.now = monday
    with database.session() as session:
        acknowledge(session, staff["tier1"], incident, None)
    clock.now = monday + dt.timedelta(hours=9)  # remediated 18:15 Berlin: after hours
    with database.session() as session:
        remediate(session, staff["tier1"], incident, None, "manual")
    config = MetricsConfig.from_config(
        {"business_hours": {"timezone": "Europe/Berlin", "days": ["mon", "tue", "wed", "thu", "fri"]}}
    )
    span = {"start": friday - dt.timedelta(days=1), "end": monday + dt.timedelta(days=1), "now": monday}
    with database.session() as session:
        office = compute_metrics(session, _query(config=config, business_hours=True, **span))
        wall = compute_metrics(session, _query(config=config, **span))
    assert office.business_hours and not wall.business_hours
    assert office.rows[0].mtta_s == 45 * 60 and office.rows[0].mttr_s == 7 * 3600 + 45 * 60
    assert wall.rows[0].mtta_s == (monday - friday).total_seconds()
    # a high incident's 30-minute ack target is breached in business time too (45 min)
    assert [(b.clock, b.actual_s) for b in office.breaches] == [("ack", 2700)]


def test_business_seconds_across_daylight_saving() -> None:
    hours = BusinessHours(timezone="Europe/Berlin")
    # Friday 27 March to Tuesday 31 March 2026 (clocks go forward on Sunday the 29th): 3 full days
    start = dt.datetime(2026, 3, 27, 0, 0, tzinfo=dt.UTC)
    end = dt.datetime(2026, 3, 31, 0, 0, tzinfo=dt.UTC)
    assert business_seconds(start, end, hours) == 2 * 8 * 3600  # Friday and Monday
    monday_berlin = dt.datetime(2026, 3, 30, 7, 0, tzinfo=dt.UTC)  # 09:00 CEST
    assert business_seconds(monday_berlin, monday_berlin + dt.timedelta(hours=1), hours) == 3600
    assert business_seconds(end, start, hours) == 0
    saturday = BusinessHours(days=frozenset({5}), start=dt.time(10), end=dt.time(12))
    assert business_seconds(start, end, saturday) == 2 * 3600


def test_statistics_and_configuration_values() -> None:
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9
    assert percentile([5], 0.9) == 5
    stats = summarize([300, 600, 1800, 7200])
    assert (stats.mean, stats.median, stats.p90) == (2475, 1200, 7200)
    assert summarize([]).mean is None
    assert parse_duration("15m", "x") == dt.timedelta(minutes=15)
    assert parse_duration("1.5h", "x") == dt.timedelta(minutes=90)
    assert parse_duration(90, "x") == dt.timedelta(seconds=90)
    from watchfloor.errors import ConfigError

    for bad in ("15 minutes", "0m", "-1h"):
        with pytest.raises(ConfigError, match="duration"):
            parse_duration(bad, "metrics.sla.high.ack")
    with pytest.raises(ConfigError, match="unknown severity"):
        MetricsConfig.from_config({"sla": {"urgent": {"ack": "1m"}}})
    with pytest.raises(ConfigError, match="time zone"):
        BusinessHours(timezone="Mars/Olympus")
    with pytest.raises(ConfigError, match="mtta_from"):
        MetricsConfig(mtta_from="detection")


def test_metrics_cli(db_url: str, tmp_path: Path, clock: Clock) -> None:
    """`watchfloor metrics` in process (the clock is the test's): text, --json, --csv, `metrics fidelity`."""
    data_dir = tmp_path / "wf"
    data_dir.mkdir()
    (data_dir / "watchfloor.toml").write_text('[metrics.sla]\nhigh = { ack = "1m" }\n', encoding="utf-8")
    from watchfloor.cases import add_user, open_database

    database = open_database(db_url, data_dir)
    try:
        with database.session() as session:
            add_user(session, Actor("setup", Role.ADMIN), "ann", "tier1")
        clock.at("09:00")
        with database.session() as session:
            incident = receive_alerts(
                session, [incoming("k1", clock.now, "r-k", "edr", "high", "h1")]
            ).opened[0]
        clock.at("09:05")
        with database.session() as session:
            acknowledge(session, Actor("ann", Role.TIER1), incident, None)
        clock.at("09:35")
        with database.session() as session:
            close(session, Actor("ann", Role.TIER1), incident, None, "true_positive", "manual")
    finally:
        database.close()
    runner = CliRunner()

    def run(*args: str) -> str:
        done = runner.invoke(
            cli, ["--data-dir", str(data_dir), "metrics", *args], env={"WATCHFLOOR_DB": db_url}
        )
        assert done.exit_code == 0, done.output
        return done.output

    span = ("--from", "2026-03-02", "--to", "2026-03-03")
    doc = json.loads(run(*span, "--json"))
    assert doc["incidents"] == 1 and doc["mtta"]["mean_s"] == 300 and doc["mttr"]["mean_s"] == 1800
    assert [(b["clock"], b["target_s"]) for b in doc["sla_breaches"]] == [("ack", 60)]
    text = run(*span, "--by", "rule")
    assert "MTTA" in text and "5m00s" in text and "r-k" in text and "SLA breaches: 1" in text
    out = tmp_path / "rows.csv"
    assert "wrote 1 incidents" in run(*span, "--csv", str(out))
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith("id,severity,tier,")
    fidelity = json.loads(run("fidelity", "--json"))
    assert fidelity["policy"]["threshold"] == 0.9
    assert fidelity["changes"] == []
