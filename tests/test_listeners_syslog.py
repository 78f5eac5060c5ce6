"""Syslog into a running `watchfloor serve`: util-linux `logger`, a real rsyslogd, and TLS."""

from __future__ import annotations

import asyncio
import fcntl
import shutil
import socket
import ssl
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from tests.live_server import LiveServer, start_server, wait_for, write_config
from watchfloor.events import Envelope
from watchfloor.ingest import MemoryAcknowledger
from watchfloor.ingest.listeners.syslog import SyslogDecoder, SyslogFramer, SyslogListener

pytestmark = pytest.mark.network
COUNT = 1000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("syslog") / "wf"
    write_config(data_dir, 'hec_tokens = ["t"]\n')
    live = start_server(data_dir)
    yield live
    assert live.stop() == 0


def _logger() -> str:
    path = shutil.which("logger")
    if path is None:
        pytest.skip("util-linux logger is not installed (apt package bsdutils)")
    return path


def _send_with_logger(port: int, tag: str, *options: str, batches: int = 10) -> None:
    """1,000 numbered messages, in batches with a short pause so loopback UDP buffers never overflow."""
    per_batch = COUNT // batches
    for batch in range(batches):
        lines = "".join(f"{tag} message {batch * per_batch + i}\n" for i in range(per_batch))
        command = [_logger(), "-n", "127.0.0.1", "-P", str(port), "-t", tag, *options]
        subprocess.run(command, input=lines, text=True, check=True, timeout=30)
        time.sleep(0.02)


def _stored(live: LiveServer, tag: str) -> list[str]:
    rows = live.query(f"SELECT message FROM syslog WHERE appname = '{tag}'")
    return sorted(r["message"] for r in rows)


def _expected(tag: str) -> list[str]:
    return sorted(f"{tag} message {i}" for i in range(COUNT))


@pytest.mark.parametrize(
    ("tag", "options"),
    [
        ("udp5424", ("--udp", "--rfc5424")),
        ("udp3164", ("--udp", "--rfc3164")),
        ("tcplf", ("--tcp", "--rfc5424")),
        ("tcpoctet", ("--tcp", "--octet-count", "--rfc3164")),
    ],
)
def test_logger_messages_all_stored(server: LiveServer, tag: str, options: tuple[str, ...]) -> None:
    _send_with_logger(server.address("syslog_udp")[1], tag, *options)
    wait_for(lambda: len(_stored(server, tag)) >= COUNT)
    assert _stored(server, tag) == _expected(tag)
    transports = server.query(f"SELECT DISTINCT transport FROM syslog WHERE appname = '{tag}'")
    assert transports == [{"transport": options[0].removeprefix("--")}]


def test_cef_inside_syslog_goes_to_cef(server: LiveServer) -> None:
    host, port = server.address("syslog_tcp")
    with socket.create_connection((host, port)) as sock:
        sock.sendall(
            b"<134>Jan 10 12:00:00 fw1 CEF:0|Acme|Wall|2.1|100|Blocked|7|src=10.1.2.3 dst=10.9.9.9\n"
        )
        sock.sendall(b"<134>Jan 10 12:00:01 fw1 LEEF:1.0|Acme|IDS|1.0|42|src=10.1.2.4\tdst=10.9.9.8\n")
    rows = wait_for(
        lambda: server.query("SELECT src_endpoint_ip FROM events WHERE metadata_log_name IN ('cef', 'leef')")
    )
    assert sorted(r["src_endpoint_ip"] for r in rows) == ["10.1.2.3", "10.1.2.4"]


def test_rsyslog_forwards_everything(server: LiveServer, tmp_path: Path) -> None:
    rsyslogd = shutil.which("rsyslogd") or shutil.which("rsyslogd", path="/usr/sbin:/sbin")
    if rsyslogd is None:
        pytest.skip("rsyslogd is not installed (apt package rsyslog)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        in_port = probe.getsockname()[1]
    work = tmp_path / "rsyslog"
    work.mkdir()
    config = tmp_path / "rsyslog.conf"
    config.write_text(
        f'global(workDirectory="{work}")\n'
        'module(load="imudp")\n'
        f'input(type="imudp" address="127.0.0.1" port="{in_port}")\n'
        f'action(type="omfwd" target="127.0.0.1" port="{server.address("syslog_tcp")[1]}" protocol="tcp" '
        'TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")\n',
        encoding="utf-8",
    )
    daemon = subprocess.Popen(
        [rsyslogd, "-n", "-f", str(config), "-i", str(tmp_path / "rsyslogd.pid")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # rsyslogd is up once a probe makes it through; then 1,000 messages.
        def probe_arrived() -> bool:
            subprocess.run([_logger(), "-n", "127.0.0.1", "-P", str(in_port), "-d", "-t", "rsprobe", "probe"])
            return bool(_stored(server, "rsprobe"))

        assert wait_for(probe_arrived, timeout=20, interval=0.5), "rsyslogd forwarded nothing"
        _send_with_logger(in_port, "viarsyslog", "--udp", "--rfc3164")
        wait_for(lambda: len(_stored(server, "viarsyslog")) >= COUNT)
        # rsyslog's %msg% keeps the space that follows an RFC 3164 tag, so compare without it.
        assert sorted(m.strip() for m in _stored(server, "viarsyslog")) == _expected("viarsyslog")
    finally:
        daemon.terminate()
        output, _ = daemon.communicate(timeout=10)
    assert "error" not in output.lower(), output


def _make_certificate(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_syslog_and_hec(tmp_path: Path) -> None:
    cert, key = _make_certificate(tmp_path)
    data_dir = tmp_path / "wf"
    write_config(data_dir, f'hec_tokens = ["t"]\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    live = start_server(data_dir, "--syslog-tls-port", "0")
    try:
        context = ssl.create_default_context(cafile=str(cert))
        host, port = live.address("syslog_tls")
        with (
            socket.create_connection((host, port)) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            for i in range(50):
                message = f"<14>1 2024-05-01T10:00:00Z h1 tlsapp - - - tls message {i}".encode()
                tls.sendall(str(len(message)).encode() + b" " + message)
            # The close below sends no close_notify, and an RST (the server's session tickets are
            # unread), which discards whatever the kernel has not sent yet: wait until TCP acknowledged it.
            _wait_acknowledged(tls)
        response = httpx.post(
            live.url("hec") + "/services/collector/event",
            headers={"Authorization": "Splunk t"},
            content='{"event": "over https"}',
            verify=context,
        )
        assert response.json() == {"text": "Success", "code": 0}
        wait_for(lambda: len(_stored(live, "tlsapp")) >= 50)
        assert _stored(live, "tlsapp") == sorted(f"tls message {i}" for i in range(50))
        assert wait_for(lambda: live.query("SELECT message FROM hec")) == [{"message": "over https"}]
    finally:
        assert live.stop() == 0


def test_framer_detects_framing_per_connection() -> None:
    octets = SyslogFramer()
    assert octets.feed(b"5 <1>a") == []  # incomplete frame
    assert octets.feed(b"b\n11 <1>a b\nc d") == ["<1>ab"]
    assert octets.feed(b"") == []
    assert octets.feed(b"e") == ["<1>a b\nc de"]
    lines = SyslogFramer()
    assert lines.feed(b"<1>one\r\n<1>tw") == ["<1>one"]
    assert lines.finish() == ["<1>tw"]
    broken = SyslogFramer()
    with pytest.raises(ValueError, match="octet"):
        broken.feed(b"12x <1>abc")


def test_decoder_quarantines_what_is_not_syslog() -> None:
    envelopes = [
        Envelope(
            "syslog", "<13>Jan 10 12:00:00 host app[12]: hello", {"peer": "1.2.3.4:5", "transport": "udp"}
        ),
        Envelope("syslog", "no header at all", {}),
    ]
    items = list(SyslogDecoder().decode(envelopes, "spool:x/syslog"))
    batches = [i for i in items if hasattr(i, "fields")]
    bad = [i for i in items if not hasattr(i, "fields")]
    assert len(batches) == 1 and batches[0].fields.column("peer").to_pylist() == ["1.2.3.4:5"]
    assert batches[0].positions.to_pylist() == [0]
    assert len(bad) == 1 and bad[0].position == 1 and bad[0].raw == "no header at all"


# -- in-process listener: abrupt closes, backpressure, framing errors


class _SlowAcknowledger(MemoryAcknowledger):
    """Slow to spool, so a burst piles up in the server while a submit is in flight (the flaky case)."""

    def submit(self, envelopes: Sequence[Envelope]) -> int:
        time.sleep(0.02)
        return super().submit(envelopes)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _make_certificate(tmp_path_factory.mktemp("cert"))


def _port(listener: SyslogListener, transport: str) -> int:
    address = next(a for a in listener.addresses if a.startswith(f"syslog {transport} "))
    return int(address.rsplit(":", 1)[1])


def _octet_burst(tag: str, count: int) -> tuple[bytes, list[str]]:
    messages = [f"<14>1 2024-05-01T10:00:00Z h1 {tag} - - - {tag} message {i}" for i in range(count)]
    return b"".join(f"{len(m)} {m}".encode() for m in messages), messages


def _unacknowledged(sock: socket.socket) -> int:
    """Bytes in the kernel's send queue not yet acknowledged by the peer (Linux `SIOCOUTQ`)."""
    return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0])


def _wait_acknowledged(sock: socket.socket, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _unacknowledged(sock) and time.monotonic() < deadline:
        time.sleep(0.001)


def _send_and_vanish(port: int, payload: bytes, context: ssl.SSLContext | None, reset: bool) -> None:
    """Send in one burst and close without a TLS close_notify; `reset` ends with an RST.

    The close waits until TCP acknowledged every byte: an RST may legitimately discard data still in
    the sender's queue, but never data the server's kernel acknowledged.
    """
    raw = socket.create_connection(("127.0.0.1", port))
    sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if context else raw
    try:
        sock.sendall(payload)
        _wait_acknowledged(sock)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()  # an SSLSocket closes without unwrap: no close_notify


async def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(("transport", "reset"), [("tls", True), ("tls", False), ("tcp", False)])
def test_abrupt_close_keeps_every_received_message(
    certificate: tuple[Path, Path], transport: str, reset: bool
) -> None:
    """Regression: an abrupt close used to discard messages already read but not yet spooled."""
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert)) if transport == "tls" else None
    acknowledger = _SlowAcknowledger()
    rounds, count = 4, 2000

    async def scenario() -> SyslogListener:
        listener = SyslogListener(acknowledger)
        await listener.start("127.0.0.1", 0, 0, server_tls)
        try:
            for round_ in range(rounds):
                payload, _ = _octet_burst(f"r{round_}", count)
                port = _port(listener, transport)
                await asyncio.to_thread(_send_and_vanish, port, payload, client_tls, reset)
                await _until(lambda total=(round_ + 1) * count: len(acknowledger.envelopes) >= total)
        finally:
            await listener.stop()
        return listener

    listener = asyncio.run(scenario())
    expected = [m for r in range(rounds) for m in _octet_burst(f"r{r}", count)[1]]
    assert [e.body for e in acknowledger.envelopes] == expected  # all of them, in order
    assert {e.meta["transport"] for e in acknowledger.envelopes} == {transport}
    assert listener.stats.received == rounds * count
    assert listener.stats.connections == rounds and listener.stats.framing_errors == 0


def test_overloaded_spool_stops_reading_then_catches_up() -> None:
    """While the spool refuses, the sender is held back by TCP, and nothing is lost once it accepts."""
    acknowledger = MemoryAcknowledger(capacity=0)
    lines = [f"<13>Jan 10 12:00:00 h1 bp: backpressure message {i}" for i in range(300_000)]
    payload = "".join(f"{line}\n" for line in lines).encode()  # about 16 MB
    sent = [0]

    def send(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            for start in range(0, len(payload), 65536):
                sock.sendall(payload[start : start + 65536])
                sent[0] = start + 65536

    async def scenario() -> SyslogListener:
        listener = SyslogListener(acknowledger)
        await listener.start("127.0.0.1", 0, None, None)
        sender = threading.Thread(target=send, args=(_port(listener, "tcp"),))
        sender.start()
        await asyncio.sleep(1.5)
        stalled_at = sent[0]
        acknowledger.capacity = None
        await _until(lambda: len(acknowledger.envelopes) >= len(lines), timeout=60)
        await asyncio.to_thread(sender.join, 30)
        await listener.stop()
        assert stalled_at < len(payload) // 2, f"the server read {stalled_at} bytes into memory"
        return listener

    listener = asyncio.run(scenario())
    assert [e.body for e in acknowledger.envelopes] == lines
    assert listener.stats.received == len(lines)


def test_framing_error_closes_the_connection_and_keeps_what_came_before() -> None:
    acknowledger = MemoryAcknowledger()
    good, messages = _octet_burst("fe", 3)

    def send(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(good)
            time.sleep(0.2)
            sock.sendall(b"12x <1>broken")
            sock.settimeout(10)
            return sock.recv(10)  # b"" once the server closes

    async def scenario() -> tuple[SyslogListener, bytes]:
        listener = SyslogListener(acknowledger)
        await listener.start("127.0.0.1", 0, None, None)
        answer = await asyncio.to_thread(send, _port(listener, "tcp"))
        await listener.stop()
        return listener, answer

    listener, answer = asyncio.run(scenario())
    assert answer == b""
    assert [e.body for e in acknowledger.envelopes] == messages
    assert listener.stats.framing_errors == 1
