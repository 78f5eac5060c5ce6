"""Connectors and channels against real receivers on loopback: HTTP (pytest-httpserver) and SMTP (aiosmtpd).

Webhooks are verified the way a receiver would (HMAC-SHA256 over timestamp and body); Slack and Teams
payloads are checked against their documented shapes; the REST connector's secrets reach the request but
never a result or an error; a hung endpoint fails the step after its timeout; mail goes over STARTTLS
with a certificate generated for the test.
"""

# ruff: noqa: F811  (fixtures imported from test_respond_support are parameters of the tests)

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.test_cases_support import db_url, pg_schema_url  # noqa: F401
from tests.test_respond_support import db, open_incident, playbook, start  # noqa: F401
from watchfloor.cases import Database
from watchfloor.cases.audit import entries
from watchfloor.errors import ConfigError
from watchfloor.respond import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CommandConnector,
    ConnectorError,
    EmailChannel,
    RestConnector,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
    connectors_from_config,
)

pytestmark = pytest.mark.network

SECRET = "hmac-shared-secret-123"
TOKEN = "edr-api-token-s3cr3t"


def test_webhook_is_signed_with_hmac_sha256(httpserver: HTTPServer) -> None:
    seen: list[Request] = []

    def receive(request: Request) -> Response:
        seen.append(request)
        return Response("{}", status=202, content_type="application/json")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(receive)
    channel = WebhookChannel("soc", httpserver.url_for("/hook"), SECRET)
    result = channel.execute("send", {"title": "T", "text": "hello"}, "wf-run-step", 5)
    assert result.status == "sent" and result.detail["http_status"] == 202
    [request] = seen
    body, stamp = request.get_data(), request.headers[TIMESTAMP_HEADER]
    expected = "sha256=" + hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers[SIGNATURE_HEADER], expected)
    assert abs(int(stamp) - time.time()) < 60
    assert request.headers[IDEMPOTENCY_HEADER] == "wf-run-step"
    assert json.loads(body) == {"title": "T", "text": "hello", "idempotency_key": "wf-run-step"}
    forged = "sha256=" + hmac.new(b"wrong", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(request.headers[SIGNATURE_HEADER], forged)


def test_slack_and_teams_payloads(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    httpserver.expect_request("/teams", method="POST").respond_with_data("", status=202)
    SlackChannel("slack", httpserver.url_for("/slack")).execute(
        "send", {"title": "Incident #4", "text": "closed"}, "k1", 5
    )
    card = {"title": "Incident #4", "text": "closed", "facts": {"verdict": "benign_true_positive"}}
    TeamsChannel("teams", httpserver.url_for("/teams")).execute("send", card, "k2", 5)
    (slack, _), (teams, _) = httpserver.log
    assert slack.json == {
        "text": "Incident #4: closed",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Incident #4*\nclosed"}}],
    }
    assert teams.json["type"] == "message"
    [attachment] = teams.json["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    content = attachment["content"]
    assert content["type"] == "AdaptiveCard" and content["version"] == "1.4"
    assert content["body"][0]["text"] == "Incident #4" and content["body"][1]["text"] == "closed"
    assert content["body"][2]["facts"] == [{"title": "verdict", "value": "benign_true_positive"}]


def _edr_config(base_url: str) -> dict[str, Any]:
    return {
        "type": "rest",
        "base_url": base_url,
        "secrets": {"token": TOKEN},
        "headers": {"Authorization": "Bearer {{ secrets.token }}"},
        "actions": {
            "isolate_host": {
                "method": "POST",
                "path": "/hosts/{{ params.host }}/isolate",
                "body": {"reason": "{{ params.reason }}", "hosts": "{{ params.hosts }}"},
            },
            "echo_token": {"method": "GET", "path": "/leak"},
        },
    }


def test_rest_connector_templates_requests_and_keeps_secrets_out(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/hosts/ws-1/isolate", method="POST", headers={"Authorization": f"Bearer {TOKEN}"}
    ).respond_with_json({"isolated": True, "echo": TOKEN})
    httpserver.expect_request("/leak").respond_with_data(f"bad token {TOKEN}", status=401)
    connector = connectors_from_config({"connectors": {"edr": _edr_config(httpserver.url_for("/"))}})["edr"]
    assert isinstance(connector, RestConnector)
    assert connector.actions()["isolate_host"].destructive  # by name, whatever the configuration says
    result = connector.execute(
        "isolate_host", {"host": "ws-1", "reason": "c2", "hosts": ["a", "b"]}, "key-1", 5
    )
    ((request, _),) = httpserver.log
    assert request.json == {"reason": "c2", "hosts": ["a", "b"]}
    assert request.headers[IDEMPOTENCY_HEADER] == "key-1"
    assert result.detail["response"] == {"isolated": True, "echo": "***"}
    with pytest.raises(ConnectorError) as failed:
        connector.execute("echo_token", {}, "key-2", 5)
    assert "HTTP 401" in str(failed.value) and TOKEN not in str(failed.value) and "***" in str(failed.value)


@pytest.fixture
def slow_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def test_a_hung_endpoint_fails_the_step_after_its_timeout_and_the_run_with_the_reason(
    db: Database, slow_server: HTTPServer
) -> None:
    def hang(request: Request) -> Response:
        time.sleep(1.5)
        return Response("too late")

    slow_server.expect_request("/hosts/ws-1/isolate").respond_with_handler(hang)
    connector = RestConnector("edr", _edr_config(slow_server.url_for("/")))
    book = playbook(
        """
name: contain
allow_unattended: true
trigger: {on: incident.created}
steps:
  - id: isolate
    act: {connector: edr, action: isolate_host, params: {host: "{{ entities.host[0] }}", reason: c2}}
    timeout: 400ms
    retries: 1
    backoff: 10ms
"""
    )
    incident = open_incident(db, hosts=("ws-1",))
    runner, run_id = start(db, book, incident, {"edr": connector})
    began = time.monotonic()
    view = runner.execute(run_id)
    took = time.monotonic() - began
    assert view.state == "failed"
    # The endpoint gets what is left of the step's 0.4 s once the step's own work is done.
    prefix, _, left = view.reason.partition("no answer within ")
    assert prefix == "step isolate failed after 2 attempt(s): edr.isolate_host: "
    assert 0.3 < float(left.removesuffix("s")) <= 0.4
    assert took < 1.5 * 2  # gave up at the timeouts, did not wait for the endpoint
    assert runner.backoffs == [0.01]
    with db.session() as session:
        failures = [e.after for e in entries(session, actions=("playbook.step_failed",))]
        ended = [e.after for e in entries(session, actions=("playbook.run_failed",))]
    assert [f["final"] for f in failures] == [False, True]
    assert ended[0]["reason"] == view.reason and TOKEN not in json.dumps(failures)


def test_command_connector_is_off_unless_enabled_and_runs_no_shell(tmp_path: Path) -> None:
    marker = tmp_path / "touched"
    config: dict[str, Any] = {
        "type": "command",
        "actions": {
            "block_address": {
                "argv": [
                    sys.executable,
                    "-c",
                    "import sys; open(sys.argv[1], 'w').write(sys.argv[2])",
                    str(marker),
                    "{{ params.ip }}",
                ],
            }
        },
    }
    off = connectors_from_config({"connectors": {"fw": config}})["fw"]
    with pytest.raises(ConnectorError, match="disabled"):
        off.execute("block_address", {"ip": "203.0.113.7"}, "k", 5)
    on = CommandConnector("fw", {**config, "enabled": True})
    assert on.actions()["block_address"].destructive and not on.actions()["block_address"].idempotent
    on.execute("block_address", {"ip": "203.0.113.7; rm -rf /"}, "k", 5)
    assert marker.read_text() == "203.0.113.7; rm -rf /"  # one argument, never a shell command
    with pytest.raises(ConfigError):
        connectors_from_config({"connectors": {"x": {"type": "carrier-pigeon"}}})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes, bool]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content, session.ssl is not None)
        )
        return "250 OK"


def test_email_goes_over_starttls_to_a_real_smtp_server(certificate: tuple[Path, Path]) -> None:
    from aiosmtpd.controller import Controller

    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    inbox, port = _Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=tls, require_starttls=True)
    controller.start()
    try:
        config = {
            "host": "127.0.0.1",
            "port": port,
            "from": "watchfloor@example.org",
            "to": ["soc@example.org"],
            "ca_file": str(cert),
        }
        channel = EmailChannel.from_config("mail", config)
        result = channel.execute(
            "send", {"title": "Incident #4 closed", "text": "benign"}, "wf-abc-notify", 10
        )
        untrusted = EmailChannel.from_config("mail", {**config, "ca_file": None})
        with pytest.raises(ConnectorError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.execute("send", {"title": "x"}, "k", 10)
    finally:
        controller.stop()
    assert result.status == "sent" and result.detail["recipients"] == 1
    [(sender, rcpts, content, over_tls)] = inbox.messages
    assert sender == "watchfloor@example.org" and rcpts == ["soc@example.org"] and over_tls
    assert b"Subject: Incident #4 closed" in content and b"wf-abc-notify" in content
