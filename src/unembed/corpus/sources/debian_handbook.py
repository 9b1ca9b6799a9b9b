"""The Debian Administrator's Handbook (Debian 11, English HTML) from Debian's debian-handbook.

Read: the English pages under ``usr/share/doc/debian-handbook/html/en-US``, one document a page.
Skipped: the other languages, the legal notice, the index and the colophon. Dropped within pages:
screens and program listings, tables, headings and navigation.

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
    return name.startswith(("legalnotice", "ix", "index", "colophon", "appe-")) or "/" in rel


def read(root: Path) -> Iterator[list[str]]:
    yield from read_html_pages(html_pages(find_dir(root, "usr/share/doc/debian-handbook/html/en-US"), skip))


SOURCE = register(Source(
    name="debian-handbook", kind="apt", package="debian-handbook", version="11.20220922",
    licence="GPL-2.0+ or CC BY-SA 3.0", register="technical", description="The Debian Administrator's Handbook",
    read=read, clean=clean_technical,
))
