"""The C++ Annotations 12.2 (HTML), Frank Brokken's C++ textbook, from Debian's c++-annotations-html.

Read: the chapter pages ``usr/share/doc/c++-annotations/html/cplusplus*.html``, one document a
page. Dropped: code listings (``<pre>``), tables, headings and navigation. (The package
c++-annotations itself ships only the example sources and a manual page, which is held out.)

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
    return not rel.rsplit("/", 1)[-1].startswith("cplusplus")


def read(root: Path) -> Iterator[list[str]]:
    yield from read_html_pages(html_pages(find_dir(root, "usr/share/doc/c++-annotations/html"), skip))


SOURCE = register(Source(
    name="cpp-annotations", kind="apt", package="c++-annotations-html", version="12.2.0-2", licence="GPL-3.0",
    register="technical", description="the C++ Annotations (HTML)", read=read, clean=clean_technical,
))
