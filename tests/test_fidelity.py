"""The 90% rule: a rule driven below 90% by false positives leaves the analyst queues, and comes back.

Runs on SQLite and PostgreSQL with the test's clock, so the rolling window is exercised for real.
"""

# ruff: noqa: F811  (fixtures imported from test_cases_support are parameters of the tests)

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from tests.test_cases_support import database, db_url, pg_schema_url, staff  # noqa: F401
from tests.test_metrics import DAY, Clock, clock, incoming  # noqa: F401
from watchfloor.cases import (
    TUNING_QUEUE,
    Actor,
    Database,
    Feed,
    FidelityPolicy,
    InvalidInput,
    close,
    entries,
    feed_records,
    feed_status,
    receive_alerts,
    reopen,
    show_incident,
)
from watchfloor.cases.fidelity import wilson_interval
from watchfloor.metrics import fidelity_report

POLICY = FidelityPolicy(threshold=0.9, window=dt.timedelta(days=30), min_verdicts=5)
_uids = itertools.count()


def _open(database: Database, clock: Clock, rule: str = "r-noisy", source: str = "") -> int:
    n = next(_uids)
    with database.session() as session:
        alert = incoming(f"f{n}", clock.now, rule, source, "medium", f"host-f{n}")
        return receive_alerts(session, [alert]).opened[0]


def _close(database: Database, actor: Actor, incident_id: int, verdict: str) -> None:
    with database.session() as session:
        close(session, actor, incident_id, None, verdict, "manual", fidelity=POLICY)


def _queue(database: Database, incident_id: int) -> str:
    with database.session() as session:
        return show_incident(session, incident_id).incident.queue


def test_rule_below_90_percent_goes_to_tuning_and_comes_back(
    database: Database, clock: Clock, staff: dict[str, Actor]
) -> None:
    analyst = staff["tier1"]
    rule = Feed("rule", "r-noisy")
    clock.now = DAY + dt.timedelta(hours=9)
    verdicts = ["false_positive_logic", "true_positive", "false_positive_data", "false_positive_logic"]
    for verdict in verdicts:  # four verdicts: fewer than the minimum of five, nothing is judged yet
        _close(database, analyst, _open(database, clock), verdict)
    assert _queue(database, _open(database, clock)) == "tier1"
    clock.now += dt.timedelta(hours=1)
    _close(database, analyst, _open(database, clock), "false_positive_logic")  # 1 of 5 true: 20%
    with database.session() as session:
        assert feed_status(session, [rule])[rule].demoted
        demoted = list(entries(session, target_type="feed", actions=("feed.demoted",)))
    assert len(demoted) == 1 and demoted[0].target_id == "rule:r-noisy"
    change = demoted[0].after
    assert (change["true_positives"], change["false_positives"], change["rate"]) == (1, 4, 0.2)
    assert change["reason"] == "true-positive rate 0.20 (1 true of 5 verdicts in 30 days) is below 0.90"
    assert change["wilson_lower"] == pytest.approx(wilson_interval(1, 5)[0])

    # its next incident is still stored and grouped, but lands in the tuning queue with the reason
    tuned = _open(database, clock)
    assert _queue(database, tuned) == TUNING_QUEUE
    with database.session() as session:
        opened = next(iter(entries(session, target_id=tuned, actions=("incident.opened",))))
        assert opened.after["queue"] == TUNING_QUEUE
        assert opened.after["routing"] == [f"rule r-noisy is in tuning: {change['reason']}"]
        other = receive_alerts(session, [incoming("f-other", clock.now, "r-other", "", "low", "host-other")])
    assert _queue(database, other.opened[0]) == "tier1"  # another rule's alerts are untouched

    # a month later the false positives have left the window; true positives restore the rule
    clock.now += dt.timedelta(days=31)
    fixed = [tuned] + [_open(database, clock) for _ in range(4)]
    assert {_queue(database, i) for i in fixed[1:]} == {TUNING_QUEUE}
    for incident in fixed[:4]:
        _close(database, analyst, incident, "true_positive")
    with database.session() as session:  # four verdicts in the new window: not enough to judge
        assert feed_status(session, [rule])[rule].demoted
    _close(database, analyst, fixed[4], "benign_true_positive")
    with database.session() as session:
        status = feed_status(session, [rule])[rule]
        restored = list(entries(session, target_type="feed", actions=("feed.restored",)))
    assert not status.demoted and status.since == clock.now
    assert len(restored) == 1
    assert restored[0].after["reason"] == (
        "true-positive rate 1.00 (5 true of 5 verdicts in 30 days) is at or above 0.90"
    )
    assert _queue(database, _open(database, clock)) == "tier1"

    with database.session() as session:
        report = fidelity_report(session, POLICY, clock.now)
    assert [c["action"] for c in report.as_dict()["changes"]] == ["feed.demoted", "feed.restored"]
    (noisy,) = [f for f in report.feeds if f.record.feed == rule]
    assert (noisy.record.true_positives, noisy.record.false_positives, noisy.status.demoted) == (5, 0, False)


def test_source_feed_duplicates_and_reopens(
    database: Database, clock: Clock, staff: dict[str, Actor]
) -> None:
    """A source feed is judged like a rule; duplicates do not count; a reopen takes its verdict back."""
    analyst = staff["tier1"]
    source = Feed("source", "flaky-edr")
    clock.now = DAY
    ids = [_open(database, clock, rule=f"r-{i}", source="flaky-edr") for i in range(7)]
    for incident, verdict in zip(
        ids[:6],
        [
            "true_positive",
            "duplicate",
            "false_positive_data",
            "true_positive",
            "true_positive",
            "true_positive",
        ],
        strict=True,
    ):
        _close(database, analyst, incident, verdict)
    with database.session() as session:
        record = feed_records(session, POLICY, clock.now, [source])[source]
        assert (record.true_positives, record.false_positives, record.duplicates) == (4, 1, 1)
        assert feed_status(session, [source])[source].demoted  # 4 of 5 = 80%
        reopen(session, analyst, ids[2], None, "was real after all")
    _close(database, analyst, ids[2], "true_positive")
    _close(database, analyst, ids[6], "true_positive")
    with database.session() as session:
        record = feed_records(session, POLICY, clock.now, [source])[source]
        assert (record.true_positives, record.false_positives) == (6, 0)
        assert not feed_status(session, [source])[source].demoted


def test_wilson_interval_and_policy_configuration() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    policy = FidelityPolicy.from_config({"threshold": 0.95, "window_days": 7, "min_verdicts": 20})
    assert (policy.threshold, policy.window, policy.min_verdicts) == (0.95, dt.timedelta(days=7), 20)
    assert FidelityPolicy.from_config(None) == FidelityPolicy()
    with pytest.raises(InvalidInput, match="unknown setting"):
        FidelityPolicy.from_config({"treshold": 0.9})
    with pytest.raises(InvalidInput, match="threshold"):
        FidelityPolicy(threshold=1.5)
    strict = FidelityPolicy(min_verdicts=10, basis="wilson_upper")
    from watchfloor.cases import FeedRecord

    record = FeedRecord(Feed("rule", "r"), 8, 2, 0, DAY, DAY)
    assert strict.judge(record)[0] is False  # 80%, but the interval still reaches 94%: not demoted
    assert FidelityPolicy(min_verdicts=10).judge(record)[0] is True  # the plain rate demotes
