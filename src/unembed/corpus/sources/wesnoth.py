"""Narrative text of Battle for Wesnoth 1.16: unit descriptions, multiplayer scenario stories and
dialogue, tips and the campaigns shipped in Debian's wesnoth-1.16-data.

Read: the translatable strings (``_ "..."``, WML's mark for player-facing text) of the ``.cfg``
files under ``data/core/units``, ``data/campaigns``, ``data/multiplayer`` and ``data/tips.cfg``
(files parsed as text, never run by the game): one document a file, its strings in order.
Dropped: sentences with run-time substitutions (``$variable``), markup (``<b>``) or macros
(``{MACRO}``), the interface (``gui/``, ``themes/``), tests, schemas, AI configurations and the
licence file. The campaigns shipped in packages of their own are the sources ``wesnoth-<code>``.

Manual pages, Debian ``copyright`` files, changelogs, licence texts and READMEs are held out or
boilerplate and skipped (:func:`._technical.is_held_out_path`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from . import register
from ._technical import is_held_out_path
from ._wesnoth import WESNOTH_VERSION, cfg_documents, wml_strings
from .base import Source, SourceUnavailable

__all__ = ["SOURCE", "files", "read", "wml_strings"]

_PARTS = ("core/units", "campaigns", "multiplayer")


def files(data: Path) -> list[Path]:
    found = [data / "tips.cfg"] if (data / "tips.cfg").is_file() else []
    for part in _PARTS:
        if (data / part).is_dir():
            found.extend(sorted(p for p in (data / part).rglob("*.cfg") if not is_held_out_path(p)))
    return found


def read(root: Path) -> Iterator[list[str]]:
    data = next((p for p in sorted(root.rglob("data")) if p.is_dir() and (p / "core").is_dir()), None)
    if data is None:
        raise SourceUnavailable("no Wesnoth data folder inside the package")
    yield from cfg_documents(files(data))


SOURCE = register(Source(
    name="wesnoth", kind="apt", package="wesnoth-1.16-data", version=WESNOTH_VERSION, licence="GPL-2.0+",
    register="narrative", description="Battle for Wesnoth unit descriptions, stories and dialogue", read=read,
))
