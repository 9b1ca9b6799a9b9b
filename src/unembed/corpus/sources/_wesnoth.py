"""Reading Battle for Wesnoth's WML data: the translatable strings of ``.cfg`` files.

Shared by the source ``wesnoth`` (wesnoth-1.16-data) and one source a campaign package
(``wesnoth-<code>``, e.g. wesnoth-1.16-httt, Heir to the Throne). Files are parsed as text, never
run by the game. This module registers no source (its name starts with ``_``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from ._technical import is_held_out_path, read_text_file
from .base import Source, SourceUnavailable

__all__ = ["wml_strings", "cfg_documents", "campaign_source", "WESNOTH_VERSION"]

#: bookworm's version of every wesnoth-1.16-* package.
WESNOTH_VERSION = "1:1.16.9-1"

_STRING = re.compile(r'\b_\s*"((?:[^"]|"")*)"')
_SUBSTITUTION = re.compile(r"[$<>{}]|&\w")


def wml_strings(text: str) -> list[str]:
    """The sentences of the translatable strings (``_ "..."``) of a WML file, unescaped; sentences
    with run-time substitutions (``$unit.name``), markup (``<b>``) or macros (``{MACRO}``) are left
    out."""
    out = []
    for m in _STRING.finditer(text):
        value = m.group(1).replace('""', '"')
        out.extend(s for s in split_sentences(" ".join(value.split())) if not _SUBSTITUTION.search(s))
    return out


def cfg_documents(files: list[Path]) -> Iterator[list[str]]:
    """One document a ``.cfg`` file (held-out and boilerplate paths skipped): its sentences in order."""
    for path in files:
        if is_held_out_path(path):
            continue
        sentences = wml_strings(read_text_file(path))
        if sentences:
            yield sentences


def campaign_source(code: str, title: str) -> Source:
    """The source of the campaign package wesnoth-1.16-``code``: the stories, dialogue and
    objectives of its scenarios and its units' descriptions (``campaigns/*/**/*.cfg``)."""

    def read(root: Path) -> Iterator[list[str]]:
        folders = [p for p in sorted(root.rglob("campaigns")) if p.is_dir()]
        if not folders:
            raise SourceUnavailable(f"no Wesnoth campaigns folder inside wesnoth-1.16-{code}")
        yield from cfg_documents([f for folder in folders for f in sorted(folder.rglob("*.cfg"))])

    return Source(
        name=f"wesnoth-{code}", kind="apt", package=f"wesnoth-1.16-{code}", version=WESNOTH_VERSION,
        licence="GPL-2.0+", register="narrative", read=read,
        description=f'Battle for Wesnoth campaign "{title}": story, dialogue, objectives',
    )
