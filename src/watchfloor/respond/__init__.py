"""Response automation: playbooks, runbooks and connectors that are versioned, testable and audited.

Playbooks (YAML, `playbook`) are loaded from the package's built-ins and `DATA_DIR/playbooks`
(`library`), started by triggers on incidents (`triggers.on_incidents_changed`) or by hand, and run by
`Runner`: each step with a timeout, retries with backoff and an idempotency key, each recorded in the
incident database and the audit log as `playbook:<name>`. Connectors (`connectors`, `rest`, `notify`)
reach other systems; destructive actions wait for tier 2 approval unless a playbook may act alone.
"""

from watchfloor.respond.connectors import (
    CONNECTOR_TYPES,
    DESTRUCTIVE_ACTIONS,
    ActionSpec,
    Connector,
    ConnectorResult,
    RecordingConnector,
    connectors_from_config,
    register_connector_type,
)
from watchfloor.respond.context import EnrichSources, IntelLookup, NoIntel, incident_scope
from watchfloor.respond.control import (
    INTERRUPTED,
    Recovery,
    approve,
    cancel,
    list_runs,
    resume_interrupted,
    show_run,
)
from watchfloor.respond.errors import ApprovalError, ConnectorError, PlaybookError, RespondError, StepTimeout
from watchfloor.respond.expr import evaluate
from watchfloor.respond.library import BUILTIN_DIR, PlaybookSet, load_playbooks, playbooks_dir
from watchfloor.respond.models import FINAL_STATES, PlaybookRun, RunState, StepRun, StepState
from watchfloor.respond.notify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    EmailChannel,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
    adaptive_card,
    sign,
)
from watchfloor.respond.playbook import Playbook, Step, StepKind, Trigger, TriggerEvent, parse_playbook
from watchfloor.respond.records import playbook_actor, queue_run
from watchfloor.respond.rest import IDEMPOTENCY_HEADER, CommandConnector, RestConnector
from watchfloor.respond.runbooks import RunbookResult, list_runbooks, runbook_from_incident
from watchfloor.respond.runner import Runner
from watchfloor.respond.steps import Environment
from watchfloor.respond.testing import TestReport, test_playbook
from watchfloor.respond.triggers import matches, on_incidents_changed
from watchfloor.respond.views import RunView, StepView

__all__ = [
    "BUILTIN_DIR",
    "CONNECTOR_TYPES",
    "DESTRUCTIVE_ACTIONS",
    "FINAL_STATES",
    "IDEMPOTENCY_HEADER",
    "INTERRUPTED",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ActionSpec",
    "ApprovalError",
    "CommandConnector",
    "Connector",
    "ConnectorError",
    "ConnectorResult",
    "EmailChannel",
    "EnrichSources",
    "Environment",
    "IntelLookup",
    "NoIntel",
    "Playbook",
    "PlaybookError",
    "PlaybookRun",
    "PlaybookSet",
    "RecordingConnector",
    "Recovery",
    "RespondError",
    "RestConnector",
    "RunState",
    "RunView",
    "RunbookResult",
    "Runner",
    "SlackChannel",
    "Step",
    "StepKind",
    "StepRun",
    "StepState",
    "StepTimeout",
    "StepView",
    "TeamsChannel",
    "TestReport",
    "Trigger",
    "TriggerEvent",
    "WebhookChannel",
    "adaptive_card",
    "approve",
    "cancel",
    "connectors_from_config",
    "evaluate",
    "incident_scope",
    "list_runbooks",
    "list_runs",
    "load_playbooks",
    "matches",
    "on_incidents_changed",
    "parse_playbook",
    "playbook_actor",
    "playbooks_dir",
    "queue_run",
    "register_connector_type",
    "resume_interrupted",
    "runbook_from_incident",
    "show_run",
    "sign",
    "test_playbook",
]
