"""Which event columns are matched against which kind of indicator, declared once for both matchers.

The OCSF core gives addresses and paths for every source; producer columns add what the core does not
hold: DNS queries, HTTP and TLS host names, user agents and file hashes, under the names each producer
uses. A column is matched wherever it exists (any source view with that column name).

`how` says how a column's text becomes comparable values: `value` (lower-cased, trailing dot of a
domain removed), `exact` (as written: user agents and URLs), `basename` (the file name of a path,
lower-cased), `hashes` (Sysmon's `SHA1=...,MD5=...,SHA256=...` list, split, algorithm names dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CORE_MATCH_FIELDS", "PRODUCER_MATCH_FIELDS", "MatchField"]

How = Literal["value", "exact", "basename", "hashes"]


@dataclass(frozen=True, slots=True)
class MatchField:
    """One event column, the indicator namespace it is matched in (`MATCH_KEY`), and how it is read."""

    column: str
    key: str
    how: How = "value"


#: Columns of the `events` view (the flattened OCSF core).
CORE_MATCH_FIELDS: tuple[MatchField, ...] = (
    MatchField("src_endpoint_ip", "ip"),
    MatchField("dst_endpoint_ip", "ip"),
    MatchField("actor_user_name", "email"),
    MatchField("file_path", "filename", "basename"),
    MatchField("process_file_path", "filename", "basename"),
)

#: Producer columns, matched in every source view that has them.
PRODUCER_MATCH_FIELDS: tuple[MatchField, ...] = (
    # Zeek: dns.log query, http.log host and user agent, ssl.log SNI, files.log hashes
    MatchField("query", "domain"),
    MatchField("host", "domain"),
    MatchField("server_name", "domain"),
    MatchField("user_agent", "user_agent", "exact"),
    MatchField("md5", "hash"),
    MatchField("sha1", "hash"),
    MatchField("sha256", "hash"),
    # Suricata EVE (nested names flattened with dots)
    MatchField("dns.rrname", "domain"),
    MatchField("http.hostname", "domain"),
    MatchField("tls.sni", "domain"),
    MatchField("http.http_user_agent", "user_agent", "exact"),
    MatchField("fileinfo.md5", "hash"),
    MatchField("fileinfo.sha1", "hash"),
    MatchField("fileinfo.sha256", "hash"),
    # Sysmon (Windows and Linux): image hashes, DNS queries, network destinations
    MatchField("Hashes", "hash", "hashes"),
    MatchField("QueryName", "domain"),
    MatchField("DestinationHostname", "domain"),
    # CloudTrail and Okta user agents; generic full URLs
    MatchField("userAgent", "user_agent", "exact"),
    MatchField("client.userAgent.rawUserAgent", "user_agent", "exact"),
    MatchField("url", "url", "exact"),
)
