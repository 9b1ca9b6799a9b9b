"""The Node.js 18 API documentation (HTML) from Debian's nodejs-doc: held out (technical register).

Read: the pages of ``usr/share/doc/nodejs/api`` (one document a page) except ``all.html`` (every
page again in one) and the changelog. Dropped within pages: code blocks, tables, headings and
navigation. Held out (``role="heldout"``): never trained on, an evaluation set of its own.

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
    return rel in ("all.html", "index.html") or rel.startswith("assets/")


def read(root: Path) -> Iterator[list[str]]:
    yield from read_html_pages(html_pages(find_dir(root, "usr/share/doc/nodejs/api"), skip, suffixes=(".html",)))


SOURCE = register(Source(
    name="nodejs-doc", kind="apt", package="nodejs-doc", version="18.20.4+dfsg-1~deb12u2", licence="MIT",
    register="technical", description="Node.js 18 API documentation (held out)", read=read, role="heldout",
    clean=clean_technical,
))
