"""Notification channels as connectors with one action, `send`: signed webhooks, Slack, Teams, email.

- `webhook`: JSON POST signed with HMAC-SHA256 over `"<timestamp>.<body>"`; the receiver checks
  `X-Watchfloor-Signature: sha256=<hex>` with the shared secret and refuses old timestamps.
- `slack`: an incoming webhook (`{"text": ...}` with mrkdwn blocks).
- `teams`: a Microsoft Teams workflow webhook (a message carrying an Adaptive Card).
- `email`: SMTP with STARTTLS always (a server without it is refused), optional login.

Webhook URLs of Slack and Teams are secrets (whoever has one can post), so they are masked like
passwords in everything recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Self

import httpx

from watchfloor.errors import ConfigError, Location
from watchfloor.respond.connectors import ActionSpec, ConnectorResult, register_connector_type
from watchfloor.respond.errors import ConnectorError, StepTimeout
from watchfloor.respond.rest import IDEMPOTENCY_HEADER
from watchfloor.respond.secrets import redact_text

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "EmailChannel",
    "SlackChannel",
    "TeamsChannel",
    "WebhookChannel",
    "adaptive_card",
    "sign",
]

SIGNATURE_HEADER = "X-Watchfloor-Signature"
TIMESTAMP_HEADER = "X-Watchfloor-Timestamp"


def _required(name: str, config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if not value:
        raise ConfigError(f"channel {name} needs {key}", Location(field=f"connectors.{name}.{key}"))
    return str(value)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value: `sha256=` and the HMAC-SHA256 of `timestamp.body`."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _post(
    name: str, url: str, body: bytes, headers: dict[str, str], timeout: float, secrets: tuple[str, ...]
) -> ConnectorResult:
    try:
        with httpx.Client(timeout=timeout) as client:
            response = client.post(url, content=body, headers={"Content-Type": "application/json", **headers})
    except httpx.TimeoutException:
        raise StepTimeout(f"{name}.send: no answer within {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise ConnectorError(redact_text(f"{name}.send: {exc}", secrets)) from None
    if response.status_code >= 400:
        text = response.text[:500]
        raise ConnectorError(redact_text(f"{name}.send: HTTP {response.status_code}: {text}", secrets))
    return ConnectorResult("sent", {"http_status": response.status_code})


def _message(params: Mapping[str, Any]) -> tuple[str, str]:
    return str(params.get("title") or "Watchfloor"), str(params.get("text") or "")


@dataclass
class WebhookChannel:
    """A generic JSON webhook signed with HMAC-SHA256 (a secret is required)."""

    name: str
    url: str
    secret: str

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> WebhookChannel:
        """Factory for `type = "webhook"`."""
        return cls(name, _required(name, config, "url"), _required(name, config, "secret"))

    def actions(self) -> Mapping[str, ActionSpec]:
        """`send`, safe to repeat: receivers dedupe on the idempotency key."""
        return {"send": ActionSpec("send", idempotent=True)}

    def execute(
        self, action: str, params: Mapping[str, Any], idempotency_key: str, timeout: float
    ) -> ConnectorResult:
        """POST the parameters as JSON with the timestamp and signature headers."""
        timestamp = str(int(time.time()))
        body = json.dumps({**params, "idempotency_key": idempotency_key}, default=str).encode("utf-8")
        headers = {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
            IDEMPOTENCY_HEADER: idempotency_key,
        }
        return _post(self.name, self.url, body, headers, timeout, (self.secret,))


@dataclass
class _ChatWebhook:
    """A chat service's incoming webhook: one URL from configuration.

    The service does not deduplicate, so a repeated `send` would post twice.
    """

    name: str
    url: str

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> Self:
        """Factory for `type = "slack"` and `type = "teams"`."""
        return cls(name, _required(name, config, "url"))

    def actions(self) -> Mapping[str, ActionSpec]:
        """`send`, not idempotent."""
        return {"send": ActionSpec("send", idempotent=False)}


@dataclass
class SlackChannel(_ChatWebhook):
    """A Slack incoming webhook."""

    def execute(
        self, action: str, params: Mapping[str, Any], idempotency_key: str, timeout: float
    ) -> ConnectorResult:
        """Post a message with a bold title."""
        title, text = _message(params)
        payload = {
            "text": f"{title}: {text}",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n{text}"}}],
        }
        body = json.dumps(payload).encode("utf-8")
        return _post(self.name, self.url, body, {}, timeout, (self.url,))


def adaptive_card(title: str, text: str, facts: Mapping[str, Any]) -> dict[str, Any]:
    """A Teams workflow message carrying one Adaptive Card (title, text, facts)."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "TextBlock", "text": text, "wrap": True},
    ]
    if facts:
        body.append({"type": "FactSet", "facts": [{"title": k, "value": str(v)} for k, v in facts.items()]})
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                },
            }
        ],
    }


@dataclass
class TeamsChannel(_ChatWebhook):
    """A Microsoft Teams workflow (Power Automate) webhook."""

    def execute(
        self, action: str, params: Mapping[str, Any], idempotency_key: str, timeout: float
    ) -> ConnectorResult:
        """Post the Adaptive Card."""
        title, text = _message(params)
        facts = params.get("facts") or {}
        body = json.dumps(adaptive_card(title, text, facts if isinstance(facts, Mapping) else {}))
        return _post(self.name, self.url, body.encode("utf-8"), {}, timeout, (self.url,))


@dataclass
class EmailChannel:
    """Mail over SMTP with STARTTLS (required); `ca_file` trusts a private CA."""

    name: str
    config: Mapping[str, Any]

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> EmailChannel:
        """Factory for `type = "email"`."""
        for key in ("host", "from", "to"):
            _required(name, config, key)
        return cls(name, config)

    def actions(self) -> Mapping[str, ActionSpec]:
        """`send` (mail is not deduplicated; the Message-ID carries the idempotency key)."""
        return {"send": ActionSpec("send", idempotent=False)}

    def _context(self) -> ssl.SSLContext:
        ca_file = self.config.get("ca_file")
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    def execute(
        self, action: str, params: Mapping[str, Any], idempotency_key: str, timeout: float
    ) -> ConnectorResult:
        """Connect, upgrade with STARTTLS, log in if configured, send one message."""
        title, text = _message(params)
        recipients = self.config["to"] if isinstance(self.config["to"], list) else [self.config["to"]]
        message = EmailMessage()
        message["Subject"], message["From"] = title, str(self.config["from"])
        message["To"] = ", ".join(str(r) for r in recipients)
        message["Message-ID"] = make_msgid(idstring=idempotency_key.replace(":", "."), domain="watchfloor")
        message.set_content(text)
        password = str(self.config.get("password") or "")
        host, port = str(self.config["host"]), int(self.config.get("port", 587))
        try:
            with smtplib.SMTP(host, port, timeout=timeout) as smtp:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise ConnectorError(f"{self.name}.send: {host}:{port} does not offer STARTTLS; refused")
                smtp.starttls(context=self._context())
                smtp.ehlo()
                if self.config.get("username"):
                    smtp.login(str(self.config["username"]), password)
                refused = smtp.send_message(message)
        except TimeoutError:
            raise StepTimeout(f"{self.name}.send: no answer from {host}:{port} within {timeout:g}s") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ConnectorError(redact_text(f"{self.name}.send: {exc}", (password,))) from None
        return ConnectorResult(
            "sent", {"recipients": len(recipients) - len(refused), "refused": list(refused)}
        )


register_connector_type("webhook", WebhookChannel.from_config)
register_connector_type("slack", SlackChannel.from_config)
register_connector_type("teams", TeamsChannel.from_config)
register_connector_type("email", EmailChannel.from_config)
