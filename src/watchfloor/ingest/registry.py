"""The registry of log formats: every format, built-in or plugin, is one `LogFormat` registered here.

Built-ins are listed once in `watchfloor.ingest.formats`; third-party packages add theirs through the
`watchfloor.formats` entry-point group (each entry point is a `LogFormat` instance). Detection asks every
format how sure it is that a head of bytes is its own, and picks the most confident.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from watchfloor.errors import Location, UnknownFormatError
from watchfloor.events import EventBatch, Quarantined
from watchfloor.ingest.formats import BUILTIN_FORMATS
from watchfloor.ingest.inputs import InputFile
from watchfloor.schema import MappingRegistry, SourceMapping

__all__ = ["FormatRegistry", "LogFormat", "default_registry"]

ENTRY_POINT_GROUP = "watchfloor.formats"


@runtime_checkable
class LogFormat(Protocol):
    """One log format: recognise it, and read it into batches of events."""

    @property
    def name(self) -> str:
        """Short name users pass to `--format`."""
        ...

    @property
    def description(self) -> str:
        """One line for `watchfloor formats`."""
        ...

    @property
    def mappings(self) -> tuple[SourceMapping, ...]:
        """How the sources this format writes fill the OCSF core."""
        ...

    def sniff(self, head: bytes, name: str) -> int:
        """Confidence (0 to 100) that `head`, the first bytes of input `name`, is this format."""
        ...

    def read(self, source: InputFile, batch_size: int) -> Iterator[EventBatch | Quarantined]:
        """Parse the whole input, yielding batches of at most `batch_size` events and bad records."""
        ...


class FormatRegistry:
    """Formats by name, and detection by content."""

    def __init__(self) -> None:
        self._formats: dict[str, LogFormat] = {}

    def register(self, fmt: LogFormat) -> LogFormat:
        """Add a format; a second format with the same name is a programming error."""
        if fmt.name in self._formats:
            raise ValueError(f"format {fmt.name!r} registered twice")
        self._formats[fmt.name] = fmt
        return fmt

    def mappings(self) -> MappingRegistry:
        """The OCSF mappings of every source the registered formats write."""
        registry = MappingRegistry()
        seen: set[str] = set()
        for fmt in self._formats.values():
            for mapping in fmt.mappings:
                if mapping.source not in seen:
                    seen.add(mapping.source)
                    registry.register(mapping)
        return registry

    def names(self) -> list[str]:
        """Registered format names, sorted."""
        return sorted(self._formats)

    def get(self, name: str) -> LogFormat:
        """The format called `name`, or an error listing the known ones."""
        try:
            return self._formats[name]
        except KeyError:
            known = ", ".join(self.names())
            raise UnknownFormatError(f"unknown format {name!r} (known: {known})") from None

    def detect(self, source: InputFile) -> LogFormat:
        """The most confident format for an input, or an error naming the input."""
        best: tuple[int, str] = (0, "")
        for fmt in self._formats.values():
            score = fmt.sniff(source.head, source.name)
            if score > best[0]:
                best = (score, fmt.name)
                if score >= 100:  # certain: no later format can outbid it, so skip their sniffing
                    break
        if best[0] <= 0:
            raise UnknownFormatError("not a supported log format", Location(source.name))
        return self._formats[best[1]]


def _load_plugins(registry: FormatRegistry) -> None:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        fmt = entry.load()
        if isinstance(fmt, LogFormat):
            registry.register(fmt)


_DEFAULT: FormatRegistry | None = None


def default_registry() -> FormatRegistry:
    """Built-in formats plus installed plugins, built once."""
    global _DEFAULT
    if _DEFAULT is None:
        registry = FormatRegistry()
        for fmt in BUILTIN_FORMATS:
            registry.register(fmt)
        _load_plugins(registry)
        _DEFAULT = registry
    return _DEFAULT
