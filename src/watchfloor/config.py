"""Settings, resolved once: command-line flags > WATCHFLOOR_* environment > watchfloor.toml > defaults.

Nothing reads the environment at import time; `load_settings` is called by the entry points and the
resulting frozen `Settings` is passed down.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from watchfloor.errors import ConfigError, Location

__all__ = ["CONFIG_FILE_NAME", "Settings", "load_settings", "resolve_data_dir"]

CONFIG_FILE_NAME = "watchfloor.toml"
DEFAULT_DATA_DIR = ".watchfloor"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an installation is configured with. All paths live under `data_dir`."""

    data_dir: Path
    host: str = "127.0.0.1"
    api_port: int = 8000
    syslog_port: int = 5514
    hec_port: int = 8088
    otlp_port: int = 4318
    batch_size: int = 50_000
    hec_tokens: tuple[str, ...] = ()
    bulk_tokens: tuple[str, ...] = ()
    otlp_tokens: tuple[str, ...] = ()
    api_tokens: tuple[str, ...] = ()
    db: str | None = None  # incident database URL (`WATCHFLOOR_DB`); None: SQLite in data_dir
    tls_cert: Path | None = None
    tls_key: Path | None = None
    syslog_tls_port: int = 6514
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def events_dir(self) -> Path:
        """Parquet event store root."""
        return self.data_dir / "events"

    @property
    def quarantine_dir(self) -> Path:
        """Malformed records, one JSON line each, with their origin and reason."""
        return self.data_dir / "quarantine"

    @property
    def spool_dir(self) -> Path:
        """Append-only segments written (and fsynced) before a listener acknowledges."""
        return self.data_dir / "spool"


def resolve_data_dir(flag: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path:
    """The data directory: `--data-dir`, else `WATCHFLOOR_HOME`, else `./.watchfloor`."""
    if flag:
        return Path(flag).expanduser().resolve()
    if environ.get("WATCHFLOOR_HOME"):
        return Path(environ["WATCHFLOOR_HOME"]).expanduser().resolve()
    return Path(DEFAULT_DATA_DIR).resolve()


_TOKEN_FIELDS = {"hec_tokens", "bulk_tokens", "otlp_tokens", "api_tokens"}
_INT_FIELDS = {"api_port", "syslog_port", "hec_port", "otlp_port", "batch_size", "syslog_tls_port"}
_PATH_FIELDS = {"tls_cert", "tls_key"}


def _coerce(name: str, value: Any, where: str) -> Any:
    try:
        if name in _TOKEN_FIELDS:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(v).strip() for v in items if str(v).strip())
        if name in _INT_FIELDS:
            return int(value)
        if name in _PATH_FIELDS:
            return Path(value).expanduser() if value else None
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value {value!r}: {exc}", Location(where, field=name)) from exc


def load_settings(
    data_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **flags: Any,
) -> Settings:
    """Resolve settings from flags, environment, the data directory's watchfloor.toml, then defaults."""
    env = os.environ if environ is None else environ
    root = resolve_data_dir(data_dir, env)
    known = {f.name for f in fields(Settings)} - {"data_dir", "extra"}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}

    toml_path = root / CONFIG_FILE_NAME
    if toml_path.is_file():
        try:
            doc = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot parse: {exc}", Location(str(toml_path))) from exc
        for key, value in doc.items():
            if key in known:
                values[key] = _coerce(key, value, str(toml_path))
            else:
                extra[key] = value
    for key in known:
        env_key = f"WATCHFLOOR_{key.upper()}"
        if env_key in env:
            values[key] = _coerce(key, env[env_key], env_key)
    for key, value in flags.items():
        if value is None:
            continue
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
    settings = Settings(data_dir=root, extra=extra)
    return replace(settings, **values)
