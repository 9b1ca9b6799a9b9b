"""The PostgreSQL 15 manual (HTML) from Debian's postgresql-doc-15.

Read: the pages of ``usr/share/doc/postgresql-doc-15/html``, one document a page, prose paragraphs
in order. Held out and skipped: the reference pages of SQL commands (``sql-*.html``) and of client
and server applications (``app-*.html``), which are manual pages' twins (evaluation material); also
the release notes (``release-*.html``, changelogs) and the licence page (``legalnotice.html``).
Dropped within pages: code (``<pre>``: program listings, screens, synopses), tables and navigation.

Manual pages (``usr/share/man``, ``man<N>/``), Debian ``copyright`` files, changelogs and licence
pages are held out or boilerplate and skipped (:func:`._technical.is_held_out_path`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from . import register
from ._technical import clean_technical, find_dir, html_pages, read_html_pages
from .base import Source

_SKIP_PREFIXES = ("sql-", "app-", "release", "legalnotice", "bookindex", "biblio")


def skip(rel: str) -> bool:
    """sql-*/app-* pages are held out (manual pages' twins); release notes and licence are boilerplate."""
    return rel.rsplit("/", 1)[-1].startswith(_SKIP_PREFIXES)


def read(root: Path) -> Iterator[list[str]]:
    yield from read_html_pages(html_pages(find_dir(root, "usr/share/doc/postgresql-doc-15/html"), skip))


SOURCE = register(Source(
    name="postgresql-doc", kind="apt", package="postgresql-doc-15", version="15.18-0+deb12u1",
    licence="PostgreSQL Licence", register="technical",
    description="PostgreSQL 15 manual (sql-*/app-* reference pages held out)", read=read, clean=clean_technical,
))
