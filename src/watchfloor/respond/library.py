"""Where playbooks come from: the built-ins shipped in the package, then `DATA_DIR/playbooks/*.yml`.

A file in the data directory with a built-in's name replaces it (that is how an installation tunes a
built-in). Loading collects every broken file instead of stopping at the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from watchfloor.respond.errors import PlaybookError
from watchfloor.respond.playbook import Playbook, parse_playbook

__all__ = ["BUILTIN_DIR", "PlaybookSet", "load_playbooks", "playbooks_dir"]

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


def playbooks_dir(data_dir: Path) -> Path:
    """The installation's own playbooks."""
    return data_dir / "playbooks"


@dataclass(frozen=True, slots=True)
class PlaybookSet:
    """The playbooks that loaded, by name, and the errors of those that did not."""

    playbooks: dict[str, Playbook] = field(default_factory=dict)
    errors: tuple[PlaybookError, ...] = ()

    def get(self, name: str) -> Playbook:
        """One playbook by name, or `PlaybookError` listing the names known."""
        try:
            return self.playbooks[name]
        except KeyError:
            known = ", ".join(sorted(self.playbooks)) or "none"
            raise PlaybookError(f"no playbook named {name!r} (known: {known})") from None


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])


def load_playbooks(data_dir: Path | None, *, builtin: bool = True) -> PlaybookSet:
    """Built-in playbooks, then the data directory's (which win on a name clash)."""
    found: dict[str, Playbook] = {}
    errors: list[PlaybookError] = []
    folders = ([BUILTIN_DIR] if builtin else []) + ([playbooks_dir(data_dir)] if data_dir else [])
    for folder in folders:
        for path in _files(folder):
            label = f"builtin:{path.name}" if folder == BUILTIN_DIR else str(path)
            try:
                playbook = parse_playbook(path.read_text(encoding="utf-8"), label)
            except PlaybookError as exc:
                errors.append(exc)
                continue
            found[playbook.name] = playbook
    return PlaybookSet(found, tuple(errors))
