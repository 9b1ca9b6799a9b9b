"""Descriptions from Dungeon Crawl Stone Soup 0.28 (monsters, items, spells, gods, places, species),
from Debian's crawl-common.

Read: the English description databases ``usr/share/crawl/dat/descript/*.txt`` (entries separated
by ``%%%%``: a key line, then the text), one document an entry. Dropped: the translations (the
subfolders), ``quotes.txt`` (quotations of other books), key lines, comments (``#``), entries with
Lua code (``{{ }}``) or placeholders (``@name@``, ``$VAR``) and the help key bindings
(``commands.txt``).

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

_SKIP_FILES = frozenset({"quotes.txt", "commands.txt"})
_PLACEHOLDER = re.compile(r"@\w+@|\$\w+|\{\{|<\w+>")


def entries(text: str) -> Iterator[list[str]]:
    """The sentences of each entry of a description database."""
    for entry in text.split("%%%%"):
        lines = [ln for ln in entry.strip("\n").split("\n") if not ln.startswith("#")]
        while lines and not lines[0].strip():
            lines.pop(0)
        body = "\n".join(lines[1:])  # the first line is the key
        if not body.strip() or _PLACEHOLDER.search(body):
            continue
        sentences = [s for paragraph in body.split("\n\n") for s in split_sentences(" ".join(paragraph.split()))]
        if sentences:
            yield sentences


def read(root: Path) -> Iterator[list[str]]:
    folder = next((p for p in sorted(root.rglob("descript")) if p.is_dir()), None)
    if folder is None:
        raise SourceUnavailable("no crawl dat/descript folder inside the package")
    for path in sorted(p for p in folder.glob("*.txt") if p.name not in _SKIP_FILES and not is_held_out_path(p)):
        yield from entries(read_text_file(path))


SOURCE = register(Source(
    name="crawl", kind="apt", package="crawl-common", version="2:0.28.0-1.1", licence="GPL-2.0+",
    register="narrative", description="Dungeon Crawl Stone Soup descriptions", read=read,
))
