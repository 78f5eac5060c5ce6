"""Built-in log formats. A new format is one module here and one line in `BUILTIN_FORMATS`."""

from __future__ import annotations

from watchfloor.ingest.formats.auditd import AuditdFormat, AuditdSentinelFormat
from watchfloor.ingest.formats.cef import CefFormat
from watchfloor.ingest.formats.cloudtrail import CloudTrailFormat
from watchfloor.ingest.formats.csv_format import CsvFormat
from watchfloor.ingest.formats.entra import EntraFormat
from watchfloor.ingest.formats.generic_json import GenericJsonFormat
from watchfloor.ingest.formats.leef import LeefFormat
from watchfloor.ingest.formats.okta import OktaFormat
from watchfloor.ingest.formats.sentinel import SentinelTableFormat
from watchfloor.ingest.formats.suricata import SuricataEveFormat
from watchfloor.ingest.formats.syslog import SyslogFormat, SyslogSentinelFormat
from watchfloor.ingest.formats.sysmon_linux import SysmonLinuxFormat, SysmonLinuxSentinelFormat
from watchfloor.ingest.formats.windows import (
    EvtxFormat,
    EvtxJsonFormat,
    WindowsJsonFormat,
    WinlogbeatFormat,
)
from watchfloor.ingest.formats.zeek import ZeekJsonFormat, ZeekTsvFormat

__all__ = ["BUILTIN_FORMATS"]

BUILTIN_FORMATS = (
    EvtxFormat(),
    EvtxJsonFormat(),
    WinlogbeatFormat(),
    WindowsJsonFormat(),
    ZeekTsvFormat(),
    ZeekJsonFormat(),
    SuricataEveFormat(),
    CloudTrailFormat(),
    EntraFormat(),
    OktaFormat(),
    SentinelTableFormat(),
    GenericJsonFormat(),
    SyslogFormat(),
    CefFormat(),
    LeefFormat(),
    AuditdFormat(),
    SysmonLinuxFormat(),
    AuditdSentinelFormat(),
    SysmonLinuxSentinelFormat(),
    SyslogSentinelFormat(),
    CsvFormat(),
)
