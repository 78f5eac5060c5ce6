"""A real `watchfloor serve` subprocess for the listener tests: free ports, parsed addresses, queries."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchfloor.errors import QueryError
from watchfloor.store import DuckDBEventStore

READY = "watchfloor serve ready"


@dataclass
class LiveServer:
    process: subprocess.Popen[str]
    data_dir: Path
    addresses: dict[str, tuple[str, int]]
    output: list[str] = field(default_factory=list)
    schemes: dict[str, str] = field(default_factory=dict)

    def address(self, name: str) -> tuple[str, int]:
        return self.addresses[name]

    def url(self, name: str) -> str:
        host, port = self.addresses[name]
        return f"{self.schemes[name]}://{host}:{port}"

    def query(self, sql: str) -> list[dict[str, Any]]:
        try:
            return DuckDBEventStore(self.data_dir / "events").query(sql).to_pylist()
        except QueryError as exc:
            # a source's view, and each of its columns, appears with the first file holding it
            if "does not exist" in str(exc) or "not found in FROM clause" in str(exc):
                return []
            raise

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def wait_for(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll until `check()` is truthy; return its value, or its last value at the timeout."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value


def write_config(data_dir: Path, text: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "watchfloor.toml").write_text(text, encoding="utf-8")


def start_server(data_dir: Path, *extra: str, timeout: float = 30.0) -> LiveServer:
    """Start `watchfloor serve` on free loopback ports and wait until it says it is ready."""
    ports = ["--api-port", "0", "--syslog-port", "0", "--hec-port", "0", "--otlp-port", "0"]
    command = [sys.executable, "-m", "watchfloor", "--data-dir", str(data_dir), "serve", *ports, *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    lines: queue.Queue[str | None] = queue.Queue()
    server = LiveServer(process, data_dir, {})

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.output.append(line.rstrip("\n"))
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            process.kill()
            raise RuntimeError("watchfloor serve did not start:\n" + "\n".join(server.output))
        if line.startswith("listening: "):
            name, address = line.removeprefix("listening: ").rsplit(" ", 1)
            host, port = address.split("://")[-1].rsplit(":", 1)
            key = name.replace(" ", "_")
            server.addresses[key] = (host, int(port))
            if "://" in address:
                server.schemes[key] = address.split("://")[0]
        if line.startswith(READY):
            return server
