r"""Entity resolution: the host names, addresses and user names seen in events → context records.

Events spell the same thing many ways: `WS-042`, `ws-042.corp.example`; `CORP\j.doe`, `j.doe`,
`j.doe@corp.example`; `10.20.4.42` inside the asset's `10.20.4.0/24`. The index keeps one normalised
spelling per name (lower case; a host's short name beside its FQDN; a user's bare name beside
`DOMAIN\user` and `user@domain`) and the asset networks sorted by prefix length, so an address
resolves to the most specific range that holds it. When several records share a short name, the most
critical one wins: priority would rather over-rate an incident than miss a crown jewel.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from watchfloor.context.values import Asset, BusinessService, ContextRecord, Identity

__all__ = ["ContextIndex", "EntityType", "Resolution", "host_names", "user_names"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EntityType(StrEnum):
    """What a value seen in an event was taken as."""

    HOST = "host"
    IP = "ip"
    USER = "user"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Resolution:
    """A value from an event and the record it resolved to, with how it matched."""

    value: str
    entity_type: EntityType
    record: ContextRecord
    matched_by: str


def host_names(value: str) -> tuple[str, ...]:
    """The spellings a host name is indexed and looked up under: the full name, then the short one."""
    text = value.strip().rstrip(".").lower()
    short = text.split(".", 1)[0]
    return (text,) if short == text or _is_address(text) else (text, short)


def user_names(value: str) -> tuple[str, ...]:
    """The spellings a user name is indexed and looked up under: as written, then the bare account."""
    text = value.strip().lower()
    bare = text.rsplit("\\", 1)[-1]
    bare = bare.split("@", 1)[0] if "@" in bare else bare
    return (text,) if bare == text else (text, bare)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip().split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


@dataclass(slots=True)
class ContextIndex:
    """Every context record, indexed for lookups by the names events use."""

    hosts: dict[str, Asset] = field(default_factory=dict)
    users: dict[str, Identity] = field(default_factory=dict)
    services: dict[str, BusinessService] = field(default_factory=dict)
    networks: list[tuple[IPNetwork, Asset]] = field(default_factory=list)

    @classmethod
    def build(cls, records: Iterable[ContextRecord]) -> ContextIndex:
        """Index records; exact names are kept before short ones, and the most critical record wins a tie."""
        index = cls()
        ordered = sorted(records, key=lambda r: -r.criticality)
        for record in ordered:
            if isinstance(record, BusinessService):
                index.services.setdefault(record.key, record)
        for record in ordered:
            if isinstance(record, Asset):
                index.hosts.setdefault(record.key, record)
                for address in record.addresses:
                    network = ipaddress.ip_network(address, strict=False)
                    index.networks.append((network, record))
            elif isinstance(record, Identity):
                index.users.setdefault(record.key, record)
                for alias in record.aliases:
                    index.users.setdefault(alias.strip().lower(), record)
        for record in ordered:  # short names last: they never hide an exact name
            if isinstance(record, Asset):
                for name in host_names(record.hostname)[1:]:
                    index.hosts.setdefault(name, record)
            elif isinstance(record, Identity):
                for name in (n for spelling in (record.key, *record.aliases) for n in user_names(spelling)):
                    index.users.setdefault(name, record)
        index.networks.sort(key=lambda item: (-item[0].prefixlen, -item[1].criticality))
        return index

    def host(self, value: str) -> Resolution | None:
        """The asset a host name (FQDN or short, any case) or an address names."""
        if _address(value) is not None:
            return self.ip(value)
        for name in host_names(value):
            asset = self.hosts.get(name)
            if asset is not None:
                how = "hostname" if name == asset.key else "short name"
                return Resolution(value, EntityType.HOST, asset, how)
        return None

    def ip(self, value: str) -> Resolution | None:
        """The asset whose most specific address or range holds this address."""
        address = _address(value)
        if address is None:
            return None
        for network, asset in self.networks:
            if network.version == address.version and address in network:
                how = "address" if network.num_addresses == 1 else f"range {network}"
                return Resolution(value, EntityType.IP, asset, how)
        return None

    def user(self, value: str) -> Resolution | None:
        r"""The identity a user name names, as `DOMAIN\user`, `user@domain`, an alias or bare."""
        for name in user_names(value):
            identity = self.users.get(name)
            if identity is not None:
                how = "username" if name == identity.key else "alias"
                return Resolution(value, EntityType.USER, identity, how)
        return None

    def service(self, name: str) -> BusinessService | None:
        """The business service of that name (any case)."""
        return self.services.get(name.strip().lower())

    def resolve(self, value: str) -> list[Resolution]:
        """Every record a free-form value could name: as an address, a host and a user."""
        found = [r for r in (self.ip(value), self.host(value), self.user(value)) if r is not None]
        service = self.service(value)
        if service is not None:
            found.append(Resolution(value, EntityType.SERVICE, service, "name"))
        unique: dict[tuple[str, str], Resolution] = {}
        for item in found:
            unique.setdefault((type(item.record).__name__, item.record.key), item)
        return list(unique.values())
