"""The GIMP 2.10 user manual (English, DocBook HTML) from Debian's gimp-help-en.

Read: the pages under ``usr/share/gimp/2.0/help/en``, one document a page. Dropped: DocBook
navigation headers and footers, headings, tables, screens and program listings, and the legal
notice and GNU FDL pages (licence text).

Manual pages (``usr/share/man``, ``man<N>/``), Debian ``copyright`` files, changelogs and licence
pages are held out or boilerplate and skipped (:func:`._technical.is_held_out_path`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from . import register
from ._technical import clean_technical, find_dir, html_pages, read_html_pages
from .base import Source


def skip(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.startswith(("gnu-fdl", "legalnotice", "ix", "index", "bibliography")) or "gfdl" in name


def read(root: Path) -> Iterator[list[str]]:
    yield from read_html_pages(html_pages(find_dir(root, "usr/share/gimp/2.0/help/en"), skip))


SOURCE = register(Source(
    name="gimp-help", kind="apt", package="gimp-help-en", version="2.10.34-2", licence="GFDL-1.2",
    register="instructions", description="GIMP 2.10 user manual (English)", read=read, clean=clean_technical,
))
