"""Watchfloor's own TAXII 2.1 collection, read by taxii2-client and by Watchfloor's own TAXII feed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import requests
import stix2
from taxii2client.v21 import Server

from tests.in_thread_server import serve
from watchfloor.api.app import create_app
from watchfloor.config import load_settings
from watchfloor.ingest import MemoryAcknowledger
from watchfloor.intel import FeedInfo, Indicator, IntelStore, ScoringPolicy, Sighting, intel_store, pull_feed
from watchfloor.intel.feeds import Credentials

pytestmark = pytest.mark.network
TOKEN = "taxii-test-token-0123456789"


class _Bearer(requests.auth.AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {TOKEN}"
        return request


def test_taxii_server_publishes_shareable_indicators_and_sightings(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "wf", environ={"WATCHFLOOR_API_TOKENS": TOKEN})
    store = intel_store(settings)
    now = dt.datetime.now(dt.UTC)
    store.upsert(
        [
            Indicator.create("ipv4", "198.51.100.7", "osint", confidence=80, tlp="green", last_seen=now),
            Indicator.create("domain", "c2.example.net", "osint", confidence=60, last_seen=now),
            Indicator.create("cidr", "203.0.113.0/24", "osint", confidence=60, last_seen=now),
            Indicator.create("sha256", "ab" * 32, "partner", confidence=90, tlp="red", last_seen=now),
        ]
    )
    store.add_sightings(
        [Sighting("ipv4", "198.51.100.7", "osint", "e1", now, "zeek_conn", "dst_endpoint_ip")]
    )
    with serve(create_app(settings, MemoryAcknowledger())) as base:
        server = Server(f"{base}/taxii2/", auth=_Bearer())
        root = server.api_roots[0]
        collection = root.collections[0]
        envelope = collection.get_objects()
        objects = [stix2.parse(o, allow_custom=False) for o in envelope["objects"]]  # valid STIX 2.1
        by_type: dict[str, list[object]] = {}
        for obj in objects:
            by_type.setdefault(obj["type"], []).append(obj)
        patterns = sorted(o["pattern"] for o in by_type["indicator"])
        assert patterns == [
            "[domain-name:value = 'c2.example.net']",
            "[ipv4-addr:value = '198.51.100.7']",
            "[ipv4-addr:value = '203.0.113.0/24']",
        ]  # the TLP:RED hash is not shared
        sighting = by_type["sighting"][0]
        assert sighting["count"] == 1
        assert sighting["sighting_of_ref"] in {o["id"] for o in by_type["indicator"]}
        unauthenticated = requests.get(f"{base}/taxii2/", timeout=10)
        assert unauthenticated.status_code == 401

        # Watchfloor's own TAXII feed reads it back, incrementally
        mirror = IntelStore(tmp_path / "mirror")
        mirror.add_feed(FeedInfo(name="self", kind="taxii", location=root.url, collection=collection.id))
        creds = Credentials(api_key=f"Bearer {TOKEN}")
        first = pull_feed(mirror, mirror.feed("self"), creds)
        assert first.error is None and first.stored == 3
        again = pull_feed(mirror, mirror.feed("self"), creds)
        assert again.error is None and again.stored == 0  # nothing added since the last pull
        assert [r["confidence"] for r in mirror.search("198.51.100.7", ScoringPolicy(decay="none"))] == [80]
