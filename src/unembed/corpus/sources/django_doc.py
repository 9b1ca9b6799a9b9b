"""The Django 3.2 documentation (Sphinx HTML) from Debian's python-django-doc.

Read: the pages of ``usr/share/doc/python-django-doc/html``, one document a page. Skipped: the
release notes (``releases/``: changelogs), Sphinx's module source listings (``_modules/``), index,
search and contents pages. Dropped within pages: code blocks, tables, headings and navigation.

Manual pages (``usr/share/man``, ``man<N>/``), Debian ``copyright`` files, changelogs and licence
pages are held out or boilerplate and skipped (:func:`._technical.is_held_out_path`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from . import register
from ._technical import clean_technical, find_dir, html_pages, read_html_pages
from .base import Source

_SKIP_DIRS = ("releases/", "_modules/", "_static/", "_images/", "_sources/")
_SKIP_PAGES = frozenset({"genindex.html", "py-modindex.html", "search.html", "contents.html"})


def skip(rel: str) -> bool:
    return rel.startswith(_SKIP_DIRS) or rel in _SKIP_PAGES


def read(root: Path) -> Iterator[list[str]]:
    yield from read_html_pages(html_pages(find_dir(root, "usr/share/doc/python-django-doc/html"), skip))


SOURCE = register(Source(
    name="django-doc", kind="apt", package="python-django-doc", version="3:3.2.25-0+deb12u3",
    licence="BSD-3-clause", register="technical", description="Django 3.2 documentation (release notes skipped)",
    read=read, clean=clean_technical,
))
