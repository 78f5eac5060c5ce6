"""The durable spool and its consumer, in-process: records, torn tails, limits, group commit, replay."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from watchfloor.config import load_settings
from watchfloor.errors import ConfigError, Overloaded
from watchfloor.events import Envelope
from watchfloor.ingest import QuarantineWriter
from watchfloor.ingest.chunk_decoding import InThreadDecoder
from watchfloor.ingest.listeners import live_decoders
from watchfloor.ingest.live import LiveConsumer
from watchfloor.ingest.spool import Spool, SpoolLimits
from watchfloor.ingest.spool_files import decode_envelope, segment_paths
from watchfloor.store import DuckDBEventStore


def hec(n: int) -> Envelope:
    return Envelope("hec", json.dumps({"event": {"n": n}}), {"endpoint": "event"})


def consumer(spool: Spool, root: Path) -> LiveConsumer:
    return LiveConsumer(
        spool,
        DuckDBEventStore(root / "events"),
        InThreadDecoder(live_decoders()),
        QuarantineWriter(root / "quarantine"),
        max_records=7,
    )


def stored_numbers(root: Path) -> list[int]:
    rows = DuckDBEventStore(root / "events").query("SELECT n FROM hec").to_pylist()
    return sorted(int(r["n"]) for r in rows)


def test_submit_read_and_sequence_numbers(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    assert spool.submit([hec(0), hec(1)]) == 1
    assert spool.submit([hec(2)]) == 2
    chunk = spool.read(spool.checkpoint.position, 10, 1 << 20)
    assert [r.seq for r in chunk.records] == [0, 1, 2]
    assert decode_envelope(chunk.records[2].payload) == hec(2)
    assert spool.backlog == (3, chunk.nbytes)
    spool.finish(chunk)
    assert spool.backlog == (0, 0)
    assert spool.read(spool.checkpoint.position, 10, 1 << 20).records == ()
    spool.close()
    with pytest.raises(Overloaded):
        spool.submit([hec(3)])


def test_torn_tail_is_truncated_on_recovery(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    spool = Spool(folder)
    spool.submit([hec(n) for n in range(5)])
    spool.close()
    (_, segment), *_ = segment_paths(folder)
    good = segment.stat().st_size
    with segment.open("ab") as fh:  # a crash in the middle of a record: header and half a payload
        fh.write(b'\x40\x00\x00\x00\x12\x34\x56\x78{"half')
    reopened = Spool(folder)
    assert segment.stat().st_size == good
    assert reopened.backlog[0] == 5
    reopened.submit([hec(5)])
    chunk = reopened.read(reopened.checkpoint.position, 100, 1 << 20)
    assert [decode_envelope(r.payload) for r in chunk.records] == [hec(n) for n in range(6)]
    reopened.close()


def test_full_backlog_refuses_and_writes_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", SpoolLimits(max_backlog_records=4, retry_after=3))
    spool.submit([hec(n) for n in range(3)])
    size = sum(p.stat().st_size for _, p in segment_paths(tmp_path / "spool"))
    with pytest.raises(Overloaded) as refused:
        spool.submit([hec(3), hec(4)])
    assert refused.value.retry_after == 3
    assert sum(p.stat().st_size for _, p in segment_paths(tmp_path / "spool")) == size
    assert spool.overloaded is False and spool.backlog[0] == 3
    spool.finish(spool.read(spool.checkpoint.position, 10, 1 << 20))
    spool.submit([hec(3), hec(4)])
    spool.close()


def test_limits_come_from_the_spool_table(tmp_path: Path) -> None:
    (tmp_path / "watchfloor.toml").write_text("[spool]\nmax_backlog_records = 9\nsegment_bytes = 4096\n")
    limits = SpoolLimits.from_settings(load_settings(tmp_path, environ={}))
    assert (limits.max_backlog_records, limits.segment_bytes) == (9, 4096)
    (tmp_path / "watchfloor.toml").write_text("[spool]\nmax_records = 9\n")
    with pytest.raises(ConfigError, match="max_records"):
        SpoolLimits.from_settings(load_settings(tmp_path, environ={}))


def test_concurrent_submitters_share_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = os.fdatasync

    def slow_fdatasync(fd: int) -> None:  # a disk's fsync latency, so that submitters overlap
        nonlocal calls
        calls += 1
        time.sleep(0.002)
        real(fd)

    monkeypatch.setattr("watchfloor.ingest.spool.os.fdatasync", slow_fdatasync)
    spool = Spool(tmp_path / "spool")

    def submit_many(worker: int) -> None:
        for i in range(50):
            spool.submit([hec(worker * 1000 + i)])

    threads = [threading.Thread(target=submit_many, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert spool.backlog[0] == 800
    assert calls < 400, f"{calls} fsyncs for 800 submits: no group commit"
    chunk = spool.read(spool.checkpoint.position, 1000, 1 << 30)
    assert len({r.seq for r in chunk.records}) == 800
    spool.close()


def test_consumer_stores_rotates_and_deletes_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", SpoolLimits(segment_bytes=300))
    for n in range(30):
        spool.submit([hec(n)])
    assert len(segment_paths(tmp_path / "spool")) > 5
    live = consumer(spool, tmp_path)
    while live.step():
        pass
    assert stored_numbers(tmp_path) == list(range(30))
    assert len(segment_paths(tmp_path / "spool")) <= 2
    spool.close()
    # a restart continues the numbering after what was consumed
    again = Spool(tmp_path / "spool", SpoolLimits(segment_bytes=300))
    assert again.submit([hec(30)]) == 30
    again.close()


def test_malformed_envelopes_are_quarantined_with_channel_and_position(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.submit([hec(1), Envelope("hec", "{not json", {}), Envelope("pigeon", "coo", {}), hec(2)])
    live = consumer(spool, tmp_path)
    live.step()
    live.quarantine.close()
    lines = [
        json.loads(x) for f in (tmp_path / "quarantine").glob("*.jsonl") for x in f.read_text().splitlines()
    ]
    assert sorted((q["path"].rsplit("/", 1)[1], q["position"]) for q in lines) == [("hec", 1), ("pigeon", 2)]
    assert stored_numbers(tmp_path) == [1, 2]
    positions = DuckDBEventStore(tmp_path / "events").query(
        "SELECT metadata_origin_position AS p FROM events"
    )
    assert sorted(positions.column("p").to_pylist()) == [0, 3]
    spool.close()


def test_crash_between_store_and_checkpoint_is_replayed_without_duplicates(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.submit([hec(n) for n in range(10)])
    live = consumer(spool, tmp_path)

    def crash(chunk: object) -> None:
        raise KeyboardInterrupt("power cut after the store, before the checkpoint")

    spool.finish = crash  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        live.step()  # stores events 0..6 (max_records=7), then "dies"
    assert stored_numbers(tmp_path) == list(range(7))
    # restart: same spool folder, fresh objects
    restarted = Spool(tmp_path / "spool")
    assert restarted.checkpoint.pending is not None
    again = consumer(restarted, tmp_path)
    assert again.recover() == 0 and again.stats.replayed_skipped == 7
    while again.step():
        pass
    assert stored_numbers(tmp_path) == list(range(10))
    uids = (
        DuckDBEventStore(tmp_path / "events").query("SELECT metadata_uid FROM events").column(0).to_pylist()
    )
    assert len(set(uids)) == 10
    restarted.close()


def test_background_consumer_drains_on_stop(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    live = consumer(spool, tmp_path)
    live.start()
    for n in range(25):
        spool.submit([hec(n)])
    live.stop()
    assert stored_numbers(tmp_path) == list(range(25))
    assert spool.backlog == (0, 0)
    spool.close()
