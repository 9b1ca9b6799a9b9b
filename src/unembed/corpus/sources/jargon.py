"""The Jargon File 4.4.7 (hacker slang), from Debian's dict-jargon (dictd database).

Read: each entry's body, one document an entry; dropped: the headword and its pronunciation and
part-of-speech line (``/buh'kee bits/, n.``), etymology brackets, sense numbers; cross-references
``{word}`` become plain words.

Only the file(s) named above are read: manual pages, Debian ``copyright`` files (held out),
changelogs and licence texts of the package are never opened.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from . import register
from ._dictd import dictd_documents
from ._technical import clean_technical
from .base import Source
from .foldoc import entry_sentences


def read(root: Path) -> Iterator[list[str]]:
    yield from dictd_documents(root, "jargon", lambda text: entry_sentences(text, skip_lines=2))


SOURCE = register(Source(
    name="jargon", kind="apt", package="dict-jargon", version="4.4.7-3.1", licence="public domain",
    register="reference", description="Jargon File entries", read=read, clean=clean_technical,
))
