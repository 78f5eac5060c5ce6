"""The decoding worker process: `python -m watchfloor.ingest.decode_worker MODULE:FUNCTION`.

Started by `chunk_decoding.WorkerProcessDecoder`. `MODULE:FUNCTION` builds the decoders
(`watchfloor.ingest.listeners:live_decoders` under `watchfloor serve`). Each line of standard input
is one chunk to decode, as JSON: `{"id", "work", "spool_id", "start_seq", "logged"}`, where `work`
is a file of pickled records; each answer is one line, `{"id", "done"}` naming the file of the
decoded chunk, or `{"id", "error"}`. The worker ends when its input ends.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sys
import traceback
from pathlib import Path

from watchfloor.ingest.chunk_decoding import decode_file

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Answer every request on standard input, in order."""
    module, _, name = argv[1].partition(":")
    decoders = getattr(importlib.import_module(module), name)()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        answer: dict[str, object] = {"id": request["id"]}
        try:
            logged = dt.datetime.fromisoformat(request["logged"])
            done = decode_file(
                Path(request["work"]), decoders, request["spool_id"], request["start_seq"], logged
            )
            answer["done"] = str(done)
        except Exception as exc:  # the chunk stays in the spool; the server logs the reason and retries
            traceback.print_exc()
            answer["error"] = f"{type(exc).__name__}: {exc}"
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
