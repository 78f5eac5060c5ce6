"""Decoding spool chunks in a worker process: same rows as in the thread, worker deaths, look-ahead."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from pathlib import Path

import pyarrow as pa
import pytest

from watchfloor.errors import WatchfloorError
from watchfloor.events import Envelope
from watchfloor.ingest import QuarantineWriter
from watchfloor.ingest.chunk_decoding import DecodedChunk, InThreadDecoder, WorkerProcessDecoder
from watchfloor.ingest.listeners import live_decoders
from watchfloor.ingest.live import LiveConsumer
from watchfloor.ingest.spool import Spool
from watchfloor.ingest.spool_files import encode_record
from watchfloor.store import DuckDBEventStore

_SYSMON_XML = (
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
    "<Provider Name='Microsoft-Windows-Sysmon' Guid='{{5770385f-c22a-43e0-bf4c-06f5698ffbd9}}'/>"
    "<EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode>"
    "<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='2026-11-23T10:00:0{n}.000000Z'/>"
    "<EventRecordID>{n}</EventRecordID><Correlation/><Execution ProcessID='2872' ThreadID='3920'/>"
    "<Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>ws-{n}.corp.example</Computer>"
    "<Security UserID='S-1-5-18'/></System><EventData><Data Name='Image'>C:\\Windows\\cmd.exe</Data>"
    "<Data Name='CommandLine'>cmd.exe /c echo {n} &amp;&amp; whoami</Data></EventData></Event>"
)
_SOURCETYPE = "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational"
LOGGED = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def _windows(n: int) -> Envelope:
    body = {"event": _SYSMON_XML.format(n=n), "sourcetype": _SOURCETYPE, "fields": {"n": str(n)}}
    return Envelope("hec", json.dumps(body), {"endpoint": "event"})


def _records() -> list[tuple[int, bytes]]:
    """Windows XML and plain HEC events, a malformed envelope and an unknown channel."""
    envelopes = [_windows(n) for n in range(5)]
    envelopes.append(Envelope("hec", json.dumps({"event": {"plain": 1}}), {"endpoint": "event"}))
    envelopes.append(Envelope("carrier-pigeon", "coo", {}))
    records = [(100 + i, encode_record(e)[8:]) for i, e in enumerate(envelopes)]
    records.insert(3, (99, b"not an envelope"))
    return records


def _rows(decoded: DecodedChunk) -> list[dict[str, object]]:
    return [row for table in decoded.tables for row in table.to_pylist()]


def test_the_worker_decodes_exactly_what_the_thread_decodes(tmp_path: Path) -> None:
    records = _records()
    leftover = tmp_path / "scratch" / "pid-999999999"  # beyond any pid: that server is gone
    leftover.mkdir(parents=True)
    (leftover / "chunk-3").write_bytes(b"left by a killed server")
    here = InThreadDecoder(live_decoders()).submit(records, "s1", 99, LOGGED).result()
    worker = WorkerProcessDecoder(live_decoders, tmp_path / "scratch")
    try:
        there = worker.submit(records, "s1", 99, LOGGED).result()
        assert list(worker.scratch.iterdir()) == []  # the hand-over files are gone
    finally:
        worker.close()
    assert list((tmp_path / "scratch").iterdir()) == []  # its own folder and the orphan are gone
    assert _rows(there) == _rows(here)
    assert [t.schema for t in there.tables] == [t.schema for t in here.tables]
    assert there.quarantined == here.quarantined
    windows = [r for r in _rows(there) if r["ocsf"]["metadata_log_name"] == "windows"]  # type: ignore[index]
    assert [r["CommandLine"] for r in windows] == [f"cmd.exe /c echo {n} && whoami" for n in range(5)]
    reasons = sorted(q.reason for q in there.quarantined)
    assert len(reasons) == 2 and "no decoder for channel 'carrier-pigeon'" in reasons


def _worker_pid(decoder: WorkerProcessDecoder) -> int:
    assert decoder._process is not None
    return decoder._process.pid


def test_a_killed_worker_fails_its_chunk_and_the_next_one_gets_a_fresh_worker(tmp_path: Path) -> None:
    records = _records()
    worker = WorkerProcessDecoder(live_decoders, tmp_path / "scratch")
    try:
        pending = worker.submit(records, "s1", 99, LOGGED)  # a fresh worker is still importing
        first = _worker_pid(worker)
        os.kill(first, signal.SIGKILL)
        with pytest.raises(WatchfloorError, match="decoding worker stopped"):
            pending.result()
        assert len(_rows(worker.submit(records, "s1", 99, LOGGED).result())) == 6
        assert _worker_pid(worker) != first
        assert list(worker.scratch.iterdir()) == []
    finally:
        worker.close()
    with pytest.raises(WatchfloorError, match="closed"):
        worker.submit(records, "s1", 99, LOGGED)


class _FailingOnce(DuckDBEventStore):
    """A store whose third append fails, as a full disk would."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.appends = 0

    def append(self, table: pa.Table) -> int:
        self.appends += 1
        if self.appends == 3:
            raise OSError("No space left on device")
        return super().append(table)


def test_look_ahead_stores_every_event_once_across_a_store_failure(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for start in range(0, 60, 6):
        spool.submit([_windows(n) for n in range(start, start + 6)])
    store = _FailingOnce(tmp_path / "events")
    worker = WorkerProcessDecoder(live_decoders, tmp_path / "scratch")
    consumer = LiveConsumer(spool, store, worker, QuarantineWriter(tmp_path / "quarantine"), max_records=7)
    try:
        stored = 0
        failures = 0
        while spool.backlog[0]:
            try:
                stored += consumer.step()
            except OSError:  # the chunk stays in the spool; the chunk decoded ahead is read again
                failures += 1
        assert failures == 1
    finally:
        worker.close()
        spool.close()
    rows = DuckDBEventStore(tmp_path / "events").query('SELECT "hec.fields.n" AS n, ocsf FROM windows')
    numbers = sorted(int(n) for n in rows.column("n").to_pylist())
    assert stored == 60 and numbers == list(range(60))
    uids = [core["metadata_uid"] for core in rows.column("ocsf").to_pylist()]
    assert len(set(uids)) == 60
