"""Incident management: alerts grouped into incidents, tiers and escalations, case work, and audit.

Alerts arrive through `receive_alerts` (see `intake`), are grouped by shared entities or a correlation
key and routed to a tier's queue. Analysts act through the `service`, `casework` and `regroup`
functions, each taking a session and the acting user; every change is an entry in the hash-chained
audit log (`audit`), which is what metrics read. Storage is SQLAlchemy over SQLite or PostgreSQL,
migrated by Alembic when opened (`open_database`).
"""

from watchfloor.cases.audit import AuditRecord, VerifyResult, entries, verify
from watchfloor.cases.casework import (
    add_comment,
    add_evidence,
    add_observable,
    add_task,
    add_task_template,
    complete_task,
    link_incidents,
    pin_event,
)
from watchfloor.cases.db import Database, database_url, open_database
from watchfloor.cases.errors import CaseError, Conflict, Forbidden, InvalidInput, NotAllowed, NotFound
from watchfloor.cases.from_detection import from_detection
from watchfloor.cases.grouping import GroupingPolicy
from watchfloor.cases.intake import IncomingAlert, IntakeResult, Placement, receive_alerts
from watchfloor.cases.queries import IncidentFilter, count_incidents, list_incidents, show_incident
from watchfloor.cases.regroup import merge, move_alerts, split
from watchfloor.cases.routing import Criticality, RouteDecision, list_criticality, set_criticality
from watchfloor.cases.service import (
    acknowledge,
    assign,
    close,
    contain,
    deescalate,
    escalate,
    investigate,
    remediate,
    reopen,
)
from watchfloor.cases.users import Actor, UserView, actor_for, add_user, list_users
from watchfloor.cases.values import EntityKind, RemediationKind, Role, Severity, State, Verdict
from watchfloor.cases.views import IncidentDetail, IncidentSummary

__all__ = [
    "Actor",
    "AuditRecord",
    "CaseError",
    "Conflict",
    "Criticality",
    "Database",
    "EntityKind",
    "Forbidden",
    "GroupingPolicy",
    "IncidentDetail",
    "IncidentFilter",
    "IncidentSummary",
    "IncomingAlert",
    "IntakeResult",
    "InvalidInput",
    "NotAllowed",
    "NotFound",
    "Placement",
    "RemediationKind",
    "Role",
    "RouteDecision",
    "Severity",
    "State",
    "UserView",
    "Verdict",
    "VerifyResult",
    "acknowledge",
    "actor_for",
    "add_comment",
    "add_evidence",
    "add_observable",
    "add_task",
    "add_task_template",
    "add_user",
    "assign",
    "close",
    "complete_task",
    "contain",
    "count_incidents",
    "database_url",
    "deescalate",
    "entries",
    "escalate",
    "from_detection",
    "investigate",
    "link_incidents",
    "list_criticality",
    "list_incidents",
    "list_users",
    "merge",
    "move_alerts",
    "open_database",
    "pin_event",
    "receive_alerts",
    "remediate",
    "reopen",
    "set_criticality",
    "show_incident",
    "split",
    "verify",
]
