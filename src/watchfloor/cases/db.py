"""Opening the incident database: SQLite in the data directory by default, PostgreSQL by URL.

Opening also migrates: the Alembic scripts shipped in `migrations/` are run programmatically up to the
newest revision, so users never need an `alembic.ini`. On SQLite every transaction starts with
`BEGIN IMMEDIATE`, which serialises writers up front; with the audit head row locked `FOR UPDATE` on
PostgreSQL, the hash chain is appended by one writer at a time on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from watchfloor.cases.errors import Conflict
from watchfloor.errors import ConfigError, StoreError

__all__ = ["DB_FILE_NAME", "Database", "database_url", "open_database"]

DB_FILE_NAME = "watchfloor.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def database_url(url: str | None, data_dir: Path) -> str:
    """The SQLAlchemy URL for `--db`: SQLite in the data directory when none is given.

    `postgresql://` URLs are pointed at the psycopg 3 driver, the one Watchfloor installs.
    """
    if not url:
        return f"sqlite:///{data_dir / DB_FILE_NAME}"
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    if url.startswith(("postgresql+psycopg://", "sqlite://")):
        return url
    raise ConfigError(f"unsupported database URL {_redacted(url)!r}: use sqlite:///PATH or postgresql://")


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the `begin` hook below issue BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass(slots=True)
class Database:
    """An engine and its session factory; `session()` is the unit of work of one command or request."""

    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any error."""
        try:
            with self.sessions.begin() as session:
                yield session
        except StaleDataError as exc:
            raise Conflict(f"a concurrent change won: {exc}; reload and try again") from exc

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()


def _migrate(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        # "heads": features land as sibling revisions on one base until a merge revision joins them.
        command.upgrade(config, "heads")


def open_database(url: str | None, data_dir: Path, *, migrate: bool = True) -> Database:
    """Connect to the incident database (creating and migrating it as needed)."""
    full_url = database_url(url, data_dir)
    if full_url.startswith("sqlite"):
        data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(full_url)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(full_url, pool_pre_ping=True)
    try:
        if migrate:
            _migrate(engine)
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot open incident database {_redacted(full_url)}: {reason}") from exc
    return Database(engine, sessionmaker(engine, expire_on_commit=False))
