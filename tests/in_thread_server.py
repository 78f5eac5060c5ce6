"""Test helpers for the HTTP listeners: an app on a real loopback port, and an acknowledger that refuses."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from watchfloor.errors import Overloaded
from watchfloor.events import Envelope
from watchfloor.ingest import MemoryAcknowledger


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn on a free loopback port in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("server did not start")
        threading.Event().wait(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class RefusingAcknowledger(MemoryAcknowledger):
    """Refuses the first `refusals` submissions with `Overloaded`, then keeps everything."""

    def __init__(self, refusals: int, retry_after: float = 0.2) -> None:
        super().__init__()
        self.refusals = refusals
        self.retry_after = retry_after
        self.calls = 0

    def submit(self, envelopes: Sequence[Envelope]) -> int:
        self.calls += 1
        if self.calls <= self.refusals:
            raise Overloaded("spool full", retry_after=self.retry_after)
        return super().submit(envelopes)
