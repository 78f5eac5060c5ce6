"""`watchfloor intel ...` and `watchfloor detect` with intel: feeds to alerts to incidents to feedback."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import corpus
from watchfloor.cli.app import cli
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

SURICATA = ("suricata-sample-data", "samples", "wrccdc-2018", "alerts-only.json")


def _run(data: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--data-dir", str(data), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _misp_feed(folder: Path) -> None:
    folder.mkdir()
    uuid = "5f0c0000-0000-4000-8000-000000000001"
    (folder / "manifest.json").write_text(json.dumps({uuid: {"info": "wave"}}), encoding="utf-8")
    event = {
        "Event": {
            "uuid": uuid,
            "info": "Scanning from WRCCDC",
            "Tag": [{"name": "tlp:green"}],
            "Attribute": [
                {"type": "ip-dst", "value": "10.47.44.68", "to_ids": True, "uuid": "a1"},
                {"type": "domain", "value": "nothing.example", "to_ids": True, "uuid": "a2"},
            ],
        }
    }
    (folder / f"{uuid}.json").write_text(json.dumps(event), encoding="utf-8")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A MISP feed folder served over HTTP on loopback."""
    root = tmp_path / "web"
    _misp_feed(root)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.network
def test_suricata_corpus_intel_to_incidents_and_feedback(tmp_path: Path, served: str) -> None:
    data = tmp_path / "wf"
    ingest_paths([corpus(*SURICATA)], DuckDBEventStore(data / "events"), data / "quarantine")
    (data / "watchfloor.toml").write_text('[intel]\ndecay = "none"\n', encoding="utf-8")
    _run(data, "intel", "add-feed", "--name", "wrccdc", "--kind", "misp", served)
    listfile = tmp_path / "list.txt"
    listfile.write_text(
        "# a network of the capture, and an address it does not hold\n10.47.3.0/24\n192.0.2.1\n",
        encoding="utf-8",
    )
    _run(data, "intel", "add-feed", "--name", "local", "--kind", "csv", str(listfile))
    pulled = json.loads(_run(data, "intel", "pull", "--json"))
    assert {(p["feed"], p["indicators"], p["error"]) for p in pulled} == {
        ("local", 2, None),
        ("wrccdc", 2, None),
    }

    # the capture is from 2018: the default 30-day window sees nothing, an explicit one sees it all
    nothing = json.loads(_run(data, "detect", "--json"))
    assert nothing["intel_matches"] == 0
    summary = json.loads(_run(data, "detect", "--since", "2018-01-01", "--json"))
    suricata = (
        DuckDBEventStore(data / "events")
        .query(
            "SELECT count(*) AS n, "
            "count(*) FILTER (WHERE '10.47.44.68' IN (src_endpoint_ip, dst_endpoint_ip)) AS misp, "
            "count(*) FILTER (WHERE src_endpoint_ip LIKE '10.47.3.%' "
            "OR dst_endpoint_ip LIKE '10.47.3.%') AS cidr "
            "FROM events"
        )
        .to_pylist()[0]
    )
    assert (
        suricata["misp"] > 0 and suricata["cidr"] > 0 and suricata["misp"] + suricata["cidr"] < suricata["n"]
    )
    assert summary["intel_alerts_new"] == suricata["misp"] + suricata["cidr"]  # one alert per feed and event
    assert summary["incidents_opened"] >= 1
    again = json.loads(_run(data, "detect", "--since", "2018-01-01", "--json"))
    assert again["intel_alerts_new"] == 0 and again["incidents_opened"] == 0  # deduplicated

    alerts = json.loads(_run(data, "alerts", "list", "--json"))
    misp_alerts = [a for a in alerts if a["rule_id"] == "intel:wrccdc"]
    assert len(misp_alerts) == suricata["misp"]
    assert any(
        "10.47.44.68" in e["value"] and "tlp=green" in e["value"] for e in misp_alerts[0]["enrichments"]
    )
    listed = {f["name"]: f for f in json.loads(_run(data, "intel", "list", "--json"))}
    assert listed["wrccdc"]["sightings"] == suricata["misp"]

    incidents = json.loads(_run(data, "incidents", "list", "--json"))
    assert incidents
    _run(data, "users", "add", "ana", "--role", "tier3")
    before = json.loads(_run(data, "intel", "search", "10.47.44.68", "--json"))[0]["confidence"]
    wrccdc_incidents = [
        i["id"]
        for i in incidents
        if any(
            a["rule_id"] == "intel:wrccdc"
            for a in json.loads(_run(data, "incidents", "show", str(i["id"]), "--json"))["alerts"]
        )
    ]
    assert wrccdc_incidents
    for incident in wrccdc_incidents:
        _run(
            data,
            "incidents",
            "close",
            str(incident),
            "--verdict",
            "false_positive_data",
            "--remediation",
            "manual",
            "--as",
            "ana",
        )
    applied = json.loads(_run(data, "intel", "feedback", "--json"))
    assert applied["verdicts"] >= 1
    after = json.loads(_run(data, "intel", "search", "10.47.44.68", "--json"))[0]
    assert after["false_positives"] >= 1 and after["confidence"] < before
    listed = {f["name"]: f for f in json.loads(_run(data, "intel", "list", "--json"))}
    assert listed["wrccdc"]["false_positives"] >= 1  # alerts of both feeds shared incidents: both learn

    # the leadership report: targeted assets and indicators, and what changed since the last report
    first = json.loads(_run(data, "intel", "report", "--days", "4000", "--json"))
    assert first["changes"] == {"first_report": True}
    summary = first["summary"]
    assert summary["alerts"] == len(alerts)
    assert ["ipv4", "10.47.44.68", "wrccdc", suricata["misp"]] in summary["indicators"]
    assert summary["outcomes"]["false_positive_data"] == len(wrccdc_incidents)
    page = Path(first["html"]).read_text(encoding="utf-8")
    assert "10.47.44.68" in page and "<script" not in page
    assert "## What changed since the last report" in Path(first["markdown"]).read_text(encoding="utf-8")
    second = json.loads(_run(data, "intel", "report", "--days", "4000", "--json"))
    assert second["changes"]["first_report"] is False and second["changes"]["alerts_delta"] == 0
    assert second["changes"]["new_indicators"] == []


def test_add_feed_refuses_bad_input(tmp_path: Path) -> None:
    data = tmp_path / "wf"
    runner = CliRunner()
    missing = runner.invoke(
        cli, ["--data-dir", str(data), "intel", "add-feed", "--name", "x", "--kind", "stix", "/no/such"]
    )
    assert missing.exit_code != 0
    taxii = runner.invoke(
        cli,
        [
            "--data-dir",
            str(data),
            "intel",
            "add-feed",
            "--name",
            "t",
            "--kind",
            "taxii",
            "http://127.0.0.1:1/api/",
        ],
    )
    assert taxii.exit_code != 0
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--x", "objects": []}), encoding="utf-8")
    _run(data, "intel", "add-feed", "--name", "b", "--kind", "stix", str(bundle))
    twice = runner.invoke(
        cli, ["--data-dir", str(data), "intel", "add-feed", "--name", "b", "--kind", "stix", str(bundle)]
    )
    assert twice.exit_code != 0
