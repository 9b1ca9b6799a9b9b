"""What a corpus source is: a package that ships text, how to read it, and what the text is for.

A source module (one file in ``unembed/corpus/sources/``) builds a :class:`Source` and passes it to
:func:`unembed.corpus.sources.register` at import time; nothing else needs editing. Its ``read``
function gets the folder the package was unpacked into and yields *documents*: lists of raw
sentences (or short texts) in their order, which the build cleans (``Source.clean``, default
:func:`unembed.corpus.cleaning.clean_text`), filters by length, deduplicates and joins into
passages of 2-3 consecutive sentences.

Rules for a source:
- read files of the package only; never import or execute the package's code;
- never copy text into the repository: sources are read at build time (their licences vary);
- yield nothing rather than junk: navigation, tables, code listings and licence boilerplate are
  the reader's to drop;
- ``role="heldout"``: the source is never trained on; it becomes an evaluation set of its own.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..cleaning import clean_text
from ..fetch import SourceUnavailable

__all__ = ["Source", "SourceUnavailable", "find_one", "KINDS", "ROLES"]

KINDS = ("pypi", "apt", "apt-index", "generated")
ROLES = ("train", "heldout")


@dataclass(frozen=True)
class Source:
    """One corpus source. ``read(root)`` yields documents, each a list of raw sentences in order."""

    name: str  # unique, lower case: the registry key and the name in manifests and reports
    kind: str  # "pypi", "apt" (a Debian package), "apt-index" (a Debian archive index, e.g.
    # bookworm/main/Translation-en) or "generated" (text written by a seeded generator)
    package: str  # the PyPI or Debian package; for "generated", the package the generator needs
    version: str  # the pinned version (Debian: the archive's version string)
    licence: str  # the licence of the text, as its package states it
    register: str  # the kind of text: encyclopaedic, technical, correspondence, fiction, speech, ...
    description: str
    read: Callable[[Path], Iterator[list[str]]]
    role: str = "train"  # "train": in the default corpus; "heldout": never trained on, its own eval set
    main: bool = False  # the build fails without it
    capitalize: bool = False  # default cleaner: upper-case the first letter, add a final full stop
    strict_spacing: bool = False  # default cleaner: drop texts with holes left by stripped formulas
    clean: Callable[[str], str | None] | None = None  # a cleaner of the source's own (default clean_text)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"source {self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.role not in ROLES:
            raise ValueError(f"source {self.name}: role {self.role!r} is not one of {ROLES}")

    @property
    def cleaner(self) -> Callable[[str], str | None]:
        if self.clean is not None:
            return self.clean
        return functools.partial(clean_text, capitalize=self.capitalize, strict_spacing=self.strict_spacing)

    @property
    def pin(self) -> str:
        return f"{self.package}=={self.version}"


def find_one(root: Path, pattern: str) -> Path:
    """The first file under ``root`` matching ``pattern`` (sorted), or SourceUnavailable."""
    matches = sorted(root.rglob(pattern))
    if not matches:
        raise SourceUnavailable(f"no {pattern} inside the package")
    return matches[0]
