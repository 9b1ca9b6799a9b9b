"""Ambrose Bierce's The Devil's Dictionary (public domain), from Debian's dict-devil (dictd).

Read: each entry, one document an entry: the definition (its ``WORD, n.`` head removed) and the
prose paragraphs that follow. Dropped: verse (paragraphs of indented lines) and attributions.

Only the file(s) named above are read: manual pages, Debian ``copyright`` files (held out),
changelogs and licence texts of the package are never opened.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from ._dictd import dictd_documents, paragraphs
from .base import Source

_HEAD = re.compile(r"^\s*[A-Z][A-Z0-9'&.,() -]*?,\s+(?:[a-z]{1,5}\.\s*)+")


def entry_sentences(text: str) -> list[str]:
    out: list[str] = []
    for i, lines in enumerate(paragraphs(text, indent_starts=True)):
        if i > 0 and (len(lines) == 1 or all(line[:1].isspace() for line in lines)):
            continue  # a verse line, a verse or an attribution
        paragraph = " ".join(" ".join(lines).split())
        if i == 0:
            paragraph = _HEAD.sub("", paragraph)
            paragraph = paragraph[:1].upper() + paragraph[1:]
        out.extend(split_sentences(paragraph))
    return out


def read(root: Path) -> Iterator[list[str]]:
    yield from dictd_documents(root, "devil", entry_sentences)


SOURCE = register(Source(
    name="devil", kind="apt", package="dict-devil", version="1.0-13.1", licence="public domain",
    register="reference", description="The Devil's Dictionary entries", read=read, capitalize=True,
))
