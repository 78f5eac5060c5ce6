"""The connector interface, its registry, and the fake shipped for tests.

A connector is a named thing that performs actions on another system (an EDR, an identity provider, a
firewall, a chat channel). Each action declares whether it is destructive (needs approval by tier 2 or
above unless the playbook may act alone) and whether repeating it with the same idempotency key is
safe (which decides whether a run interrupted by a restart may be resumed). Connectors are configured
in `watchfloor.toml` as `[connectors.NAME]` with a `type`; `CONNECTOR_TYPES` maps each type to its
factory, so a new kind of connector is one entry, not another `elif`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from watchfloor.errors import ConfigError, Location
from watchfloor.respond.errors import ConnectorError

__all__ = [
    "CONNECTOR_TYPES",
    "DESTRUCTIVE_ACTIONS",
    "ActionSpec",
    "Connector",
    "ConnectorResult",
    "RecordingConnector",
    "connectors_from_config",
    "register_connector_type",
]

#: Actions that change what a person or machine may do; destructive whatever the configuration says.
DESTRUCTIVE_ACTIONS = frozenset(
    {"disable_account", "isolate_host", "block_address", "block_ip", "revoke_sessions", "quarantine_file"}
)


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One action a connector offers."""

    name: str
    destructive: bool = False
    idempotent: bool = True


@dataclass(frozen=True, slots=True)
class ConnectorResult:
    """What an action did, already redacted: a status and details for the run record and audit log."""

    status: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"status": self.status, **dict(self.detail)}


class Connector(Protocol):
    """Performs actions on another system."""

    name: str

    def actions(self) -> Mapping[str, ActionSpec]:
        """The actions offered, by name."""
        ...

    def execute(
        self, action: str, params: Mapping[str, Any], idempotency_key: str, timeout: float
    ) -> ConnectorResult:
        """Perform one action within `timeout` seconds; `ConnectorError` (redacted) when it fails."""
        ...


ConnectorFactory = Callable[[str, Mapping[str, Any]], Connector]
CONNECTOR_TYPES: dict[str, ConnectorFactory] = {}


def register_connector_type(kind: str, factory: ConnectorFactory) -> None:
    """Make `type = "<kind>"` available in `[connectors.NAME]`."""
    CONNECTOR_TYPES[kind] = factory


def connectors_from_config(extra: Mapping[str, Any]) -> dict[str, Connector]:
    """Build every `[connectors.NAME]` of the settings' extra table."""
    section = extra.get("connectors") or {}
    if not isinstance(section, Mapping):
        raise ConfigError("[connectors] must be a table of tables", Location(field="connectors"))
    built: dict[str, Connector] = {}
    for name, config in section.items():
        where = Location(field=f"connectors.{name}")
        if not isinstance(config, Mapping):
            raise ConfigError("a connector is a table", where)
        kind = str(config.get("type") or "")
        if kind not in CONNECTOR_TYPES:
            raise ConfigError(
                f"unknown connector type {kind!r} ({', '.join(sorted(CONNECTOR_TYPES))})", where
            )
        built[str(name)] = CONNECTOR_TYPES[kind](str(name), config)
    return built


@dataclass
class RecordingConnector:
    """A connector for tests and dry runs of wiring: records calls, can fail or hang on purpose.

    `fail_times` makes the first N calls raise; `delay` sleeps before answering (a hung endpoint).
    """

    name: str
    specs: Mapping[str, ActionSpec]
    fail_times: int = 0
    delay: float = 0.0
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)

    def actions(self) -> Mapping[str, ActionSpec]:
        """The actions given at creation."""
        return self.specs

    def execute(
        self, action: str, params: Mapping[str, Any], idempotency_key: str, timeout: float
    ) -> ConnectorResult:
        """Record the call, then fail, hang or succeed as configured."""
        self.calls.append((action, dict(params), idempotency_key))
        if self.delay:
            time.sleep(self.delay)
        if len(self.calls) <= self.fail_times:
            raise ConnectorError(f"{self.name}.{action}: failing on purpose (call {len(self.calls)})")
        return ConnectorResult("ok", {"action": action})
