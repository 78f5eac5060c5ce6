"""The generic REST connector and the command connector.

Both are declared, not coded: each action is a request (or an argv) template rendered with the step's
parameters, the connector's secrets and the idempotency key. Secrets come from `[connectors.NAME.secrets]`
in `watchfloor.toml`, are only ever placed into requests, and are masked in every result and error.
The command connector is off unless its table says `enabled = true`, and never runs a shell.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from watchfloor.errors import ConfigError, Location
from watchfloor.respond.connectors import (
    DESTRUCTIVE_ACTIONS,
    ActionSpec,
    ConnectorResult,
    register_connector_type,
)
from watchfloor.respond.errors import ConnectorError, StepTimeout
from watchfloor.respond.secrets import redact, redact_text
from watchfloor.respond.template import check_template, render, render_text

__all__ = ["IDEMPOTENCY_HEADER", "CommandConnector", "RestConnector"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEEP = 2_000


def _specs(name: str, config: Mapping[str, Any], default_idempotent: bool) -> dict[str, ActionSpec]:
    actions = config.get("actions") or {}
    if not isinstance(actions, Mapping) or not actions:
        raise ConfigError("declare at least one [connectors.NAME.actions.ACTION]", Location(field=name))
    specs = {}
    for action, body in actions.items():
        if not isinstance(body, Mapping):
            raise ConfigError("an action is a table", Location(field=f"connectors.{name}.actions.{action}"))
        check_template(dict(body))
        specs[str(action)] = ActionSpec(
            str(action),
            destructive=bool(body.get("destructive", False)) or action in DESTRUCTIVE_ACTIONS,
            idempotent=bool(body.get("idempotent", default_idempotent)),
        )
    return specs


def _secrets(config: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (config.get("secrets") or {}).items()}


@dataclass
class RestConnector:
    """HTTP requests from templates: method, URL (or path under `base_url`), headers, JSON body."""

    name: str
    config: Mapping[str, Any]
    specs: dict[str, ActionSpec] = field(init=False)
    secrets: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.specs = _specs(self.name, self.config, default_idempotent=True)
        self.secrets = _secrets(self.config)

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> RestConnector:
        """Factory for `type = "rest"`."""
        return cls(name, config)

    def actions(self) -> Mapping[str, ActionSpec]:
        """The declared actions."""
        return self.specs

    def _request(self, action: str, params: Mapping[str, Any], key: str) -> httpx.Request:
        body = self.config["actions"][action]
        scope = {
            "params": dict(params),
            "secrets": self.secrets,
            "base_url": str(self.config.get("base_url", "")).rstrip("/"),
            "idempotency_key": key,
        }
        url = render_text(str(body.get("url") or "{{ base_url }}" + str(body.get("path", ""))), scope)
        headers = {
            str(k): render_text(str(v), scope)
            for k, v in {**(self.config.get("headers") or {}), **(body.get("headers") or {})}.items()
        }
        headers[IDEMPOTENCY_HEADER] = key
        payload = render(body["body"], scope) if "body" in body else None
        method = str(body.get("method", "POST")).upper()
        return httpx.Request(method, url, headers=headers, json=payload)

    def execute(
        self, action: str, params: Mapping[str, Any], idempotency_key: str, timeout: float
    ) -> ConnectorResult:
        """Send the request; an HTTP error status or a transport failure is a `ConnectorError`."""
        if action not in self.specs:
            raise ConnectorError(f"connector {self.name} has no action {action!r}")
        secrets = self.secrets.values()
        request = self._request(action, params, idempotency_key)
        verify = self.config.get("verify", True)
        try:
            with httpx.Client(timeout=timeout, verify=verify) as client:
                response = client.send(request)
        except httpx.TimeoutException:
            raise StepTimeout(f"{self.name}.{action}: no answer within {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise ConnectorError(redact_text(f"{self.name}.{action}: {exc}", secrets)) from None
        text = response.text[:_KEEP]
        if response.status_code >= 400:
            raise ConnectorError(
                redact_text(f"{self.name}.{action}: HTTP {response.status_code}: {text}", secrets)
            )
        try:
            answer: Any = response.json()
        except ValueError:
            answer = text
        detail = {"http_status": response.status_code, "url": str(request.url), "response": answer}
        return ConnectorResult("ok", redact(detail, secrets))


@dataclass
class CommandConnector:
    """Runs a program from an argv template (no shell); refused unless `enabled = true`."""

    name: str
    config: Mapping[str, Any]
    specs: dict[str, ActionSpec] = field(init=False)
    secrets: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.specs = _specs(self.name, self.config, default_idempotent=False)
        self.secrets = _secrets(self.config)
        for action, body in self.config["actions"].items():
            argv = body.get("argv")
            if not isinstance(argv, list) or not argv:
                where = Location(field=f"connectors.{self.name}.actions.{action}.argv")
                raise ConfigError("a command action needs argv, a non-empty list", where)

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> CommandConnector:
        """Factory for `type = "command"`."""
        return cls(name, config)

    @property
    def enabled(self) -> bool:
        """Off unless the configuration says `enabled = true`."""
        return self.config.get("enabled") is True

    def actions(self) -> Mapping[str, ActionSpec]:
        """The declared actions."""
        return self.specs

    def execute(
        self, action: str, params: Mapping[str, Any], idempotency_key: str, timeout: float
    ) -> ConnectorResult:
        """Run the argv; a non-zero exit, a missing program or the timeout is a `ConnectorError`."""
        if not self.enabled:
            raise ConnectorError(f"command connector {self.name} is disabled (set enabled = true)")
        if action not in self.specs:
            raise ConnectorError(f"connector {self.name} has no action {action!r}")
        scope = {"params": dict(params), "secrets": self.secrets, "idempotency_key": idempotency_key}
        argv = [render_text(str(part), scope) for part in self.config["actions"][action]["argv"]]
        secrets = self.secrets.values()
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise StepTimeout(f"{self.name}.{action}: still running after {timeout:g}s") from None
        except OSError as exc:
            raise ConnectorError(redact_text(f"{self.name}.{action}: {exc}", secrets)) from None
        if done.returncode != 0:
            message = f"{self.name}.{action}: exit {done.returncode}: {done.stderr.strip()[:_KEEP]}"
            raise ConnectorError(redact_text(message, secrets))
        detail = {"argv": argv, "exit": 0, "stdout": done.stdout[:_KEEP]}
        return ConnectorResult("ok", redact(detail, secrets))


register_connector_type("rest", RestConnector.from_config)
register_connector_type("command", CommandConnector.from_config)
