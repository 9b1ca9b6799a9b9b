"""FOLDOC, the Free On-line Dictionary of Computing, from Debian's dict-foldoc (dictd database).

Read: each entry's body (the headword line dropped), one document an entry. Cross-references
``{word}`` become plain words; ``<category>`` tags, sense numbers, revision dates ``(1997-09-11)``,
bibliography brackets and ``Home`` page and URL lines are dropped (the last by the cleaner).

Only the file(s) named above are read: manual pages, Debian ``copyright`` files (held out),
changelogs and licence texts of the package are never opened.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from ._dictd import dictd_documents, paragraphs, strip_markup
from ._technical import clean_technical
from .base import Source


def entry_sentences(text: str, skip_lines: int = 1) -> list[str]:
    """Sentences of a dictd entry's body (its first ``skip_lines`` lines, the headword, dropped)."""
    body = "\n".join(text.split("\n")[skip_lines:])
    out: list[str] = []
    for lines in paragraphs(body):
        paragraph = strip_markup(" ".join(lines))
        if len(paragraph.split()) >= 4 and not paragraph.startswith("["):
            out.extend(split_sentences(paragraph))
    return out


def read(root: Path) -> Iterator[list[str]]:
    yield from dictd_documents(root, "foldoc", entry_sentences)


SOURCE = register(Source(
    name="foldoc", kind="apt", package="dict-foldoc", version="20230119-1", licence="GFDL-1.1+",
    register="reference", description="FOLDOC computing dictionary entries", read=read, clean=clean_technical,
))
