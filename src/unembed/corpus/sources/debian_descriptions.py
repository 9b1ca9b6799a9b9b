"""Debian package descriptions: the long ``Description-en`` fields of bookworm's main archive.

Read from the archive's ``Translation-en`` index (kind ``apt-index``: fetched by a private
``apt-get update`` into the corpus cache, never the system's lists; data only, no package is
downloaded or installed). One document a package: the sentences of its long description in order.
Dropped: the one-line synopsis (a noun phrase, not a sentence), verbatim lines (indented by two or
more spaces: code, tables, ASCII art), list bullets' markers, and descriptions repeated word for word
by several packages (only the first is read, so ``-dev``/``-doc`` twins don't dominate).

Only the file(s) named above are read: manual pages, Debian ``copyright`` files (held out),
changelogs and licence texts of the package are never opened.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from ._technical import clean_technical, read_text_file
from .base import Source, find_one

_BULLET = re.compile(r"^[*+o-]\s+")


def description_paragraphs(long_lines: list[str]) -> list[str]:
    """Paragraphs of a long description (its lines without the leading space)."""
    paragraphs: list[list[str]] = [[]]
    for line in long_lines:
        if line.strip() == ".":
            paragraphs.append([])
        elif line.startswith(" "):  # verbatim: code, tables, ASCII art
            paragraphs.append([])
        elif _BULLET.match(line):
            paragraphs.append([_BULLET.sub("", line)])
        else:
            paragraphs[-1].append(line.strip())
    return [" ".join(p) for p in paragraphs if p]


def iter_descriptions(text: str) -> Iterator[list[str]]:
    """The long description lines of each record of a Translation file."""
    long_lines: list[str] | None = None
    for line in text.split("\n"):
        if line.startswith("Description-"):
            long_lines = []
        elif line.startswith(" ") and long_lines is not None:
            long_lines.append(line[1:])
        else:
            if long_lines:
                yield long_lines
            long_lines = None
    if long_lines:
        yield long_lines


def read(root: Path) -> Iterator[list[str]]:
    path = find_one(root, "Translation-en")
    seen: set[str] = set()
    for long_lines in iter_descriptions(read_text_file(path)):
        digest = hashlib.sha1("\n".join(long_lines).encode("utf-8")).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        sentences = [s for p in description_paragraphs(long_lines) for s in split_sentences(p)]
        if sentences:
            yield sentences


SOURCE = register(Source(
    name="debian-descriptions", kind="apt-index", package="bookworm/main/Translation-en", version="12.15",
    licence="per package (DFSG-free; main archive)", register="technical",
    description="Debian bookworm package descriptions (long Description-en fields)", read=read,
    clean=clean_technical,
))
