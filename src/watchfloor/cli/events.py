"""Commands over events and the installation: ingest, hunt, sources, formats, retention, serve, demo."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import sys
from pathlib import Path
from typing import Any

import click
import pyarrow as pa

from watchfloor.api import serve as run_server
from watchfloor.cli.common import echo_json, settings_of
from watchfloor.demo import run_demo
from watchfloor.ingest import default_registry, ingest_paths
from watchfloor.store import open_store

__all__ = ["demo", "formats", "hunt", "ingest", "retention", "serve", "sources"]


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "format_name", default="auto", show_default=True, help="Format name or auto.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...], format_name: str, as_json: bool) -> None:
    """Ingest log files, folders and archives into the event store."""
    settings = settings_of(ctx)
    store = open_store(settings.events_dir)
    summary = ingest_paths(
        list(paths), store, settings.quarantine_dir, format_name=format_name, batch_size=settings.batch_size
    )
    if as_json:
        echo_json(summary.as_dict())
    else:
        for result in summary.files:
            if result.error:
                click.echo(f"error: {result.error}", err=True)
        parts = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_source.items())) or "none"
        click.echo(
            f"ingested {summary.events} events from {len(summary.files)} inputs "
            f"({summary.quarantined} quarantined, {len(summary.errors)} unreadable); by source: {parts}"
        )
    if summary.errors and not summary.events:
        sys.exit(1)


def _format_table(table: pa.Table, output: str) -> str:
    rows = table.to_pylist()
    if output == "json":
        return json.dumps(rows, indent=2, default=str, ensure_ascii=False)
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(table.column_names)
        writer.writerows([["" if v is None else v for v in row.values()] for row in rows])
        return buffer.getvalue().rstrip("\n")
    widths = [len(n) for n in table.column_names]
    cells = [["" if v is None else str(v).replace("\n", " ")[:80] for v in row.values()] for row in rows]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(table.column_names, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.append(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''})")
    return "\n".join(lines)


@click.command()
@click.argument("sql")
@click.option(
    "--format", "output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
@click.option("--limit", type=int, default=None, help="Return at most this many rows.")
@click.pass_context
def hunt(ctx: click.Context, sql: str, output: str, limit: int | None) -> None:
    """Run a read-only SQL query over the event store (`events` is the view of all sources)."""
    store = open_store(settings_of(ctx).events_dir)
    click.echo(_format_table(store.query(sql, limit=limit), output))


@click.command()
@click.option("--days", type=click.IntRange(min=1), required=True, help="Keep this many days of events.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def retention(ctx: click.Context, days: int, as_json: bool) -> None:
    """Delete stored events older than N days (whole day partitions)."""
    cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).strftime("%Y-%m-%d")
    removed = open_store(settings_of(ctx).events_dir).drop_before(cutoff)
    if as_json:
        echo_json({"cutoff": cutoff, "files_removed": removed})
    else:
        click.echo(f"removed {removed} files with events before {cutoff}")


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def sources(ctx: click.Context, as_json: bool) -> None:
    """List the sources in the event store (each is a view for `hunt`)."""
    infos = open_store(settings_of(ctx).events_dir).sources()
    if as_json:
        echo_json([{"name": i.name, "files": i.files, "days": list(i.days)} for i in infos])
        return
    for info in infos:
        first, last = (info.days[0], info.days[-1]) if info.days else ("-", "-")
        click.echo(f"{info.name:<24} {info.files:>6} files  {first} .. {last}")


@click.command()
@click.option("--json", "as_json", is_flag=True)
def formats(as_json: bool) -> None:
    """List the log formats `ingest` understands."""
    registry = default_registry()
    rows = [{"name": n, "description": registry.get(n).description} for n in registry.names()]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']:<16} {row['description']}")


@click.command()
@click.option("--reset", is_flag=True, help="Empty the data directory first.")
@click.pass_context
def demo(ctx: click.Context, reset: bool) -> None:
    """Fresh installation with built-in attack telemetry, then hunts over it."""
    run_demo(settings_of(ctx), click.echo, reset=reset)


@click.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1; 0.0.0.0 widens).")
@click.option("--api-port", type=click.IntRange(0, 65535), default=None, help="API and console (8000).")
@click.option("--syslog-port", type=click.IntRange(0, 65535), default=None, help="Syslog UDP+TCP (5514).")
@click.option("--syslog-tls-port", type=click.IntRange(0, 65535), default=None, help="Syslog TLS (6514).")
@click.option("--hec-port", type=click.IntRange(0, 65535), default=None, help="Splunk HEC (8088).")
@click.option("--otlp-port", type=click.IntRange(0, 65535), default=None, help="OTLP/HTTP (4318).")
@click.pass_context
def serve(ctx: click.Context, /, **ports: Any) -> None:
    """Run the API and the live listeners (syslog, HEC, _bulk, OTLP) until SIGTERM or Ctrl+C."""
    chosen = {k: v for k, v in ports.items() if v is not None}
    run_server(dataclasses.replace(settings_of(ctx), **chosen), click.echo)
