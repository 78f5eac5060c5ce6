"""How Zeek logs and Suricata EVE records fill the OCSF core.

Zeek writes one log per protocol analyser, each its own source (`zeek_conn`, `zeek_dns`...), so each
gets a declaration built from the connection tuple every Zeek log shares (`ts`, `id.orig_h`...) plus
what is particular to it: the DNS query as the activity, the Kerberos client as the user. Suricata
writes every event type into one `suricata` source; the class follows `event_type`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from watchfloor.schema import EventClass, SourceMapping

__all__ = ["SURICATA_MAPPING", "ZEEK_FALLBACK_SOURCE", "ZEEK_MAPPINGS", "zeek_source"]

ZEEK_FALLBACK_SOURCE = "zeek"

_TRAFFIC = EventClass(4001, "Network Activity", 6, "Traffic")
_NETWORK_OTHER = EventClass(4001, "Network Activity", 99, "Other")
_HTTP = EventClass(4002, "HTTP Activity", 99, "Other")
_DNS = EventClass(4003, "DNS Activity", 1, "Query")
_DHCP = EventClass(4004, "DHCP Activity", 99, "Other")
_RDP = EventClass(4005, "RDP Activity", 3, "Connect Request")
_SMB = EventClass(4006, "SMB Activity", 99, "Other")
_SSH = EventClass(4007, "SSH Activity", 1, "Open")
_FTP = EventClass(4008, "FTP Activity", 99, "Other")
_EMAIL = EventClass(4009, "Email Activity", 99, "Other")
_NETWORK_FILE = EventClass(4010, "Network File Activity", 99, "Other")
_TUNNEL = EventClass(4014, "Tunnel Activity", 1, "Open")
_FINDING = EventClass(2004, "Detection Finding", 1, "Create")
_LOGON = EventClass(3002, "Authentication", 1, "Logon")
_TICKET = EventClass(3002, "Authentication", 3, "Authentication Ticket")
_SERVICE_TICKET = EventClass(3002, "Authentication", 4, "Service Ticket Request")
_INVENTORY = EventClass(5001, "Device Inventory Info", 2, "Collect")

#: OCSF HTTP Activity activities, by request method.
_HTTP_METHODS: Mapping[str, EventClass] = {
    method: EventClass(4002, "HTTP Activity", activity, name)
    for method, activity, name in (
        ("CONNECT", 1, "Connect"),
        ("DELETE", 2, "Delete"),
        ("GET", 3, "Get"),
        ("HEAD", 4, "Head"),
        ("OPTIONS", 5, "Options"),
        ("POST", 6, "Post"),
        ("PUT", 7, "Put"),
        ("TRACE", 8, "Trace"),
    )
}

#: Zeek's `T`/`F` booleans as outcomes.
_BOOL_STATUS = {"t": "Success", "f": "Failure", "true": "Success", "false": "Failure"}

_ZEEK_BASE = SourceMapping(
    source=ZEEK_FALLBACK_SOURCE,
    product="Zeek",
    time=("ts",),
    src_ip=("id.orig_h",),
    src_port=("id.orig_p",),
    dst_ip=("id.resp_h",),
    dst_port=("id.resp_p",),
    hostname=("_system_name", "_node"),
)


def _zeek(path: str, default_class: EventClass, **overrides: object) -> SourceMapping:
    return replace(_ZEEK_BASE, source=f"zeek_{path}", default_class=default_class, **overrides)  # type: ignore[arg-type]


ZEEK_MAPPINGS: tuple[SourceMapping, ...] = (
    _zeek("conn", _TRAFFIC, status=("conn_state",)),
    _zeek("conn_long", _TRAFFIC, status=("conn_state",)),
    _zeek("dns", _DNS, activity=("query",), status=("rcode_name",)),
    _zeek(
        "http",
        _HTTP,
        class_key=("method",),
        classes=_HTTP_METHODS,
        user=("username",),
        status=("status_code",),
    ),
    _zeek("ssl", _TRAFFIC, activity=("server_name",), status=("established",), status_values=_BOOL_STATUS),
    _zeek(
        "files",
        _NETWORK_FILE,
        src_ip=("id.orig_h", "tx_hosts"),
        dst_ip=("id.resp_h", "rx_hosts"),
        file_path=("filename",),
        activity=("mime_type",),
    ),
    _zeek(
        "kerberos",
        _TICKET,
        class_key=("request_type",),
        classes={"AS": _TICKET, "TGS": _SERVICE_TICKET},
        user=("client",),
        status=("success",),
        status_values=_BOOL_STATUS,
    ),
    _zeek("ntlm", _LOGON, user=("username",), status=("success",), status_values=_BOOL_STATUS),
    _zeek("radius", _LOGON, user=("username",), status=("result",)),
    _zeek("smb_mapping", _SMB, activity=("path",), file_path=("path",)),
    _zeek("smb_files", _SMB, activity=("action",), file_path=("name", "path")),
    _zeek("dce_rpc", _NETWORK_OTHER, activity=("operation",)),
    _zeek("ssh", _SSH, status=("auth_success",), status_values=_BOOL_STATUS, activity=("client",)),
    _zeek("rdp", _RDP, user=("cookie",), status=("result",)),
    _zeek("dhcp", _DHCP, activity=("msg_types",), hostname=("host_name",)),
    _zeek("smtp", _EMAIL, activity=("subject",), user=("mailfrom",)),
    _zeek("ftp", _FTP, activity=("command",), user=("user",), file_path=("arg",)),
    _zeek("tunnel", _TUNNEL, activity=("action",)),
    _zeek("x509", _NETWORK_OTHER, activity=("certificate.subject",)),
    _zeek("ocsp", _NETWORK_OTHER),
    _zeek("pe", _NETWORK_FILE),
    _zeek("weird", _NETWORK_OTHER, activity=("name",)),
    _zeek("notice", _FINDING, activity=("note",), src_ip=("id.orig_h", "src"), dst_ip=("id.resp_h", "dst")),
    _zeek("intel", _FINDING, activity=("seen.indicator",)),
    _zeek("signatures", _FINDING, activity=("sig_id",), src_ip=("src_addr",), dst_ip=("dst_addr",)),
    _zeek("analyzer", _NETWORK_OTHER, activity=("analyzer_name",)),
    _zeek("dpd", _NETWORK_OTHER, activity=("failure_reason",)),
    _zeek("software", _INVENTORY, src_ip=("host",), activity=("name",)),
    _zeek("known_hosts", _INVENTORY, src_ip=("host",)),
    _zeek("known_services", _INVENTORY, src_ip=("host",), src_port=("port_num",)),
    _zeek("known_certs", _INVENTORY, src_ip=("host",)),
    _zeek("snmp", _NETWORK_OTHER),
    _zeek("sip", _NETWORK_OTHER, activity=("method",)),
    _zeek("socks", _TUNNEL, user=("user",)),
    _zeek("mysql", _NETWORK_OTHER, activity=("cmd",)),
    _zeek("irc", _NETWORK_OTHER, activity=("command",), user=("user",)),
    _zeek("modbus", _NETWORK_OTHER, activity=("func",)),
    _zeek("dnp3", _NETWORK_OTHER, activity=("fc_request",)),
    _zeek("quic", _TRAFFIC, activity=("server_name",)),
    _zeek("packet_filter", EventClass(0, "Base Event"), activity=("filter",)),
    _zeek("capture_loss", EventClass(0, "Base Event")),
    _zeek("stats", EventClass(0, "Base Event")),
    _zeek("reporter", EventClass(0, "Base Event"), activity=("message",)),
    _zeek("loaded_scripts", EventClass(0, "Base Event")),
    _ZEEK_BASE,
)

_KNOWN_ZEEK_SOURCES = frozenset(m.source for m in ZEEK_MAPPINGS)


def zeek_source(path: str | None) -> str:
    """The source of a Zeek log path (`conn` → `zeek_conn`); unknown or missing paths → `zeek`."""
    if not path:
        return ZEEK_FALLBACK_SOURCE
    candidate = f"zeek_{path.strip().lower()}"
    return candidate if candidate in _KNOWN_ZEEK_SOURCES else ZEEK_FALLBACK_SOURCE


_SURICATA_CLASSES: Mapping[str, EventClass] = {
    "alert": _FINDING,
    "flow": _TRAFFIC,
    "netflow": _TRAFFIC,
    "drop": EventClass(4001, "Network Activity", 5, "Refuse"),
    "anomaly": _NETWORK_OTHER,
    "dns": _DNS,
    "http": _HTTP,
    "http2": _HTTP,
    "tls": _TRAFFIC,
    "quic": _TRAFFIC,
    "fileinfo": _NETWORK_FILE,
    "smb": _SMB,
    "nfs": _NETWORK_FILE,
    "ssh": _SSH,
    "rdp": _RDP,
    "dhcp": _DHCP,
    "smtp": _EMAIL,
    "ftp": _FTP,
    "ftp_data": _FTP,
    "krb5": _TICKET,
    "dcerpc": _NETWORK_OTHER,
    "stats": EventClass(0, "Base Event"),
}

SURICATA_MAPPING = SourceMapping(
    source="suricata",
    product="Suricata",
    time=("timestamp",),
    user=("krb5.cname", "smtp.mail_from"),
    src_ip=("src_ip",),
    src_port=("src_port",),
    dst_ip=("dest_ip",),
    dst_port=("dest_port",),
    hostname=("host",),
    file_path=("fileinfo.filename", "smb.filename"),
    activity=(
        "alert.signature",
        "dns.rrname",
        "dns.query.rrname",
        "tls.sni",
        "http.hostname",
        "anomaly.event",
        "fileinfo.filename",
        "ssh.client.software_version",
    ),
    status=("alert.action", "flow.state"),
    severity=("alert.severity",),
    severity_ids={"1": 4, "2": 3, "3": 2, "4": 1},
    class_key=("event_type",),
    classes=_SURICATA_CLASSES,
    default_class=_NETWORK_OTHER,
)
