"""Narrative text of Endless Sky 0.9.8: planet, ship and outfit descriptions, spaceport scenes,
mission conversations and news, from Debian's endless-sky-data.

Read: the data files ``usr/share/games/endless-sky/data/**/*.txt`` (parsed as text, never run by
the game): strings quoted in backticks (descriptions, conversations, dialogs) and ``description``
strings in double quotes; one document a top-level block (a mission, a planet, a ship), its
strings in order. Dropped: sentences with run-time substitutions (``<planet>``, ``<first>``),
identifiers and numbers of the game's data, and the licence header comments.

Manual pages, Debian ``copyright`` files, changelogs, licence texts and READMEs are held out or
boilerplate and skipped (:func:`._technical.is_held_out_path`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from ._technical import is_held_out_path, read_text_file
from .base import Source, SourceUnavailable

_BACKTICK = re.compile(r"`([^`]*)`")
_DESCRIPTION = re.compile(r'^\s*description\s+"([^"]+)"\s*$')
_SUBSTITUTION = re.compile(r"<[a-z ]+>|[{}$]")


def blocks(text: str) -> Iterator[list[str]]:
    """The strings of each top-level block of an Endless Sky data file, in order."""
    current: list[str] = []
    for line in text.split("\n"):
        if line and not line[0].isspace():
            if current:
                yield current
            current = []
            if line.startswith("#"):
                continue
        strings = _BACKTICK.findall(line)
        m = _DESCRIPTION.match(line) if not strings else None
        if m:
            strings = [m.group(1)]
        current.extend(" ".join(s.split()) for s in strings)
    if current:
        yield current


def read(root: Path) -> Iterator[list[str]]:
    data = next((p for p in sorted(root.rglob("data")) if p.is_dir() and p.parent.name == "endless-sky"), None)
    if data is None:
        raise SourceUnavailable("no endless-sky/data folder inside the package")
    for path in sorted(p for p in data.rglob("*.txt") if not is_held_out_path(p)):
        for strings in blocks(read_text_file(path)):
            sentences = [s for string in strings for s in split_sentences(string) if not _SUBSTITUTION.search(s)]
            if sentences:
                yield sentences


SOURCE = register(Source(
    name="endless-sky", kind="apt", package="endless-sky-data", version="0.9.8-1.2", licence="GPL-3.0+",
    register="narrative", description="Endless Sky descriptions, conversations and news", read=read,
))
