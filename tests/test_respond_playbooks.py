"""Playbook files: validation with locations, the safe expression language, templates, triggers, built-ins."""

# ruff: noqa: F811  (fixtures imported from test_respond_support are parameters of the tests)

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.test_cases_support import alert, db_url, pg_schema_url  # noqa: F401
from tests.test_respond_support import db, playbook  # noqa: F401
from watchfloor.cases import Database, receive_alerts
from watchfloor.respond import (
    BUILTIN_DIR,
    PlaybookError,
    StepKind,
    TriggerEvent,
    connectors_from_config,
    evaluate,
    incident_scope,
    load_playbooks,
    on_incidents_changed,
    parse_playbook,
)
from watchfloor.respond.template import render

SCOPE = {
    "incident": {"severity": "high", "tier": 1, "title": "Mimikatz on ws-1"},
    "entities": {"host": ["ws-1", "ws-2"], "user": []},
    "steps": {"look": {"prior_incidents": [{"id": 3}, {"id": 9}]}},
}


def test_expressions_read_the_scope_and_nothing_else() -> None:
    assert evaluate("incident.severity == 'high' and incident.tier < 2", SCOPE) is True
    assert evaluate("'ws-2' in entities.host and not entities.user", SCOPE) is True
    assert evaluate("join(pluck(steps.look.prior_incidents, 'id'))", SCOPE) == "3, 9"
    assert evaluate("glob(entities.host, 'WS-*')", SCOPE) is True
    assert evaluate("entities.user or 'nobody'", SCOPE) == "nobody"
    assert evaluate("missing.deeply.nested", SCOPE) is None
    assert evaluate("entities.host[5]", SCOPE) is None
    for hostile in (
        "__import__('os').system('true')",
        "incident.__class__",
        "().__class__.__bases__",
        "[x for x in entities.host]",
        "lambda: 1",
        "open('/etc/passwd')",
        "incident.title.upper()",
    ):
        with pytest.raises(PlaybookError):
            evaluate(hostile, SCOPE)


def test_templates_keep_types_for_a_whole_placeholder() -> None:
    assert render("{{ entities.host }}", SCOPE) == ["ws-1", "ws-2"]
    assert render({"msg": "on {{ entities.host[0] }} ({{ incident.tier }})"}, SCOPE) == {"msg": "on ws-1 (1)"}


@pytest.mark.parametrize(
    ("text", "message", "field"),
    [
        ("name: Bad Name\nsteps: []", "playbook name", "name"),
        (
            "name: a\ntrigger: {on: alert.deleted}\nsteps: [{id: x, set: {comment: c}}]",
            "unknown trigger",
            "trigger",
        ),
        ("name: a\ntrigger: {on: manual}\nsteps: [{id: x, wibble: {}}]", "exactly one of", "steps[0]"),
        (
            "name: a\ntrigger: {on: manual}\nsteps: [{id: x, set: {comment: c}}, {id: x, set: {comment: d}}]",
            "used twice",
            "steps[1]",
        ),
        (
            "name: a\ntrigger: {on: manual}\nsteps: [{id: x, if: 'a.__class__', then: []}]",
            "not allowed",
            None,
        ),
        (
            "name: a\ntrigger: {on: manual}\nsteps: [{id: x, enrich: [horoscope]}]",
            "unknown enrichment",
            "steps[0]",
        ),
        (
            "name: a\ntrigger: {on: manual}\nsteps: [{id: x, set: {comment: c}, timeout: soon}]",
            "duration",
            "steps[0]",
        ),
        (
            "name: a\ntrigger: {on: manual}\nsteps: [{id: x, set: {comment: c}, retries: 99}]",
            "retries",
            "steps[0]",
        ),
    ],
)
def test_broken_playbooks_name_the_file_and_field(text: str, message: str, field: str | None) -> None:
    with pytest.raises(PlaybookError, match=message) as caught:
        parse_playbook(text, "pb/broken.yml")
    if field is not None:
        assert caught.value.location is not None and caught.value.location.path == "pb/broken.yml"
        assert caught.value.location.field == field


def test_builtin_playbooks_load_and_the_data_dir_overrides_and_adds(tmp_path: Path) -> None:
    shipped = load_playbooks(None)
    assert not shipped.errors
    assert set(shipped.playbooks) == {"enrich-new-incidents", "resolve-known-benign"}
    benign = shipped.get("resolve-known-benign")
    assert [s.kind for s in benign.all_steps()] == [
        StepKind.ENRICH,
        StepKind.BRANCH,
        StepKind.CLOSE,
        StepKind.SET,
    ]
    assert sorted(p.name for p in BUILTIN_DIR.glob("*.yml")) == [
        "enrich-new-incidents.yml",
        "resolve-known-benign.yml",
    ]
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "mine.yml").write_text(
        "name: enrich-new-incidents\nversion: 7\nsteps: [{id: a, set: {comment: x}}]\n"
        "trigger: {on: incident.created}\n"
    )
    (folder / "broken.yml").write_text("name: [\n")
    found = load_playbooks(tmp_path)
    assert found.get("enrich-new-incidents").version == 7 and len(found.errors) == 1
    with pytest.raises(PlaybookError, match="known: enrich-new-incidents, resolve-known-benign"):
        found.get("nope")


NARROW = """
name: narrow
trigger:
  on: incident.created
  rule: ["r-mimikatz", "*Shadow*"]
  severity_min: high
  entities: {host: ["ws-*"]}
  tier: 1
  queue: tier1
  context: {"incident.assignee": null, "incident.title": "Mimikatz*"}
  when: "len(alerts) == 1"
steps: [{id: a, set: {comment: x}}]
"""


def test_trigger_conditions_all_must_hold(db: Database) -> None:
    book = playbook(NARROW)
    assert book.trigger.on is TriggerEvent.INCIDENT_CREATED
    changed = playbook(
        NARROW.replace("name: narrow", "name: later").replace("incident.created", "incident.changed")
    )
    every = playbook(
        NARROW.replace("name: narrow", "name: every").replace("incident.created", "alert.created")
    )
    books = type(load_playbooks(None))({b.name: b for b in (book, changed, every)})
    with db.session() as session:
        result = receive_alerts(
            session,
            [
                alert("m1", hosts=("ws-1",)),
                alert("m2", hosts=("srv-1",)),
                alert("m3", hosts=("ws-3",), severity="medium"),
            ],
        )
        first = result.opened[0]
        assert len(result.opened) == 3
        queued = on_incidents_changed(session, result.opened, [], books)
        assert len(queued) == 2  # narrow and every, on the ws-1 incident only
        scope = incident_scope(session, first)
        assert scope["entities"]["host"] == ["ws-1"] and scope["rules"] == ["r-mimikatz"]
        # Run once per incident for incident.created, even when intake reports it again.
        assert on_incidents_changed(session, [first], [], books) == [queued[1] + 1]
        joined = receive_alerts(session, [alert("m4", 1, hosts=("ws-1",))])
        assert [p.incident_id for p in joined.joined] == [first]
        # A second alert: `when: len(alerts) == 1` no longer holds.
        assert on_incidents_changed(session, [], [first], books) == []


def test_the_documented_examples_load() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "playbooks.md").read_text(encoding="utf-8")
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    book = parse_playbook(example, "docs/playbooks.md")
    assert [s.id for s in book.all_steps()][:3] == ["gather", "decide", "isolate"]
    config = tomllib.loads(doc.split("```toml\n", 1)[1].split("```", 1)[0])
    built = connectors_from_config(config)
    assert sorted(built) == ["edr", "fw", "soc-hook", "soc-mail", "soc-slack", "soc-teams"]
    assert built["edr"].actions()["isolate_host"].destructive
