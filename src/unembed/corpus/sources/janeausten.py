"""Jane Austen's six completed novels, from Debian's r-cran-janeaustenr: held out (fiction).

Read: the package's lazy-load data (``data/Rdata.rdx`` + ``Rdata.rdb``, R's serialization parsed as
bytes by :mod:`._rdata`; no R code runs): one character vector of lines a novel. One document a
chapter, its paragraphs' sentences in order. Dropped: title pages, chapter and volume headings
and other lines without a sentence end. Held out (``role="heldout"``): never trained on, an
evaluation set of its own.

Only the file(s) named above are read: manual pages, Debian ``copyright`` files (held out),
changelogs and licence texts of the package are never opened.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from ._rdata import RDataError, lazyload_objects
from .base import Source, SourceUnavailable, find_one

_HEADING = re.compile(r"^(?:CHAPTER|Chapter|VOLUME|Volume)\b[\s\dIVXLC.]*$")
_ENDS = (".", "!", "?", '"', "'", ")", "_")


def chapters(lines: list) -> Iterator[list[str]]:
    """The sentences of each chapter of a novel given as its lines (blank lines between paragraphs)."""
    chapter: list[str] = []
    paragraph: list[str] = []

    def end_paragraph() -> None:
        text = " ".join(" ".join(paragraph).replace("_", "").split())
        paragraph.clear()
        if len(text.split()) >= 4 and text.endswith(_ENDS):
            chapter.extend(split_sentences(text))

    for line in lines + [""]:
        line = (line or "").strip()
        if _HEADING.match(line):
            end_paragraph()
            if chapter:
                yield list(chapter)
                chapter.clear()
        elif line:
            paragraph.append(line)
        else:
            end_paragraph()
    if chapter:
        yield chapter


def read(root: Path) -> Iterator[list[str]]:
    rdx = find_one(root, "Rdata.rdx")
    try:
        novels = lazyload_objects(rdx)
    except (RDataError, OSError) as e:
        raise SourceUnavailable(f"cannot read {rdx.name}: {e}") from None
    for name in sorted(novels):
        lines = novels[name]
        if isinstance(lines, list) and all(isinstance(x, str) or x is None for x in lines):
            yield from chapters(list(lines))


SOURCE = register(Source(
    name="janeausten", kind="apt", package="r-cran-janeaustenr", version="1.0.0-1",
    licence="MIT (package); novels public domain", register="fiction",
    description="Jane Austen's six novels, by chapter (held out)", read=read, role="heldout",
))
