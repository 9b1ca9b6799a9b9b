"""The Rust books (HTML) from Debian's rust-doc 1.63: The Rust Programming Language, the Reference,
the Rustonomicon, Rust by Example, the Edition Guide, the Embedded Book and the rustc, rustdoc and
unstable books.

Read: the mdBook pages under ``usr/share/doc/rust-doc/html/<book>/``, one document a page.
Skipped: the generated API reference (``std``, ``core``, ``alloc``, ``proc_macro``, ``test``,
``implementors``) and the source listings (``src``), which are signatures and code rather than
prose, and each book's ``print.html`` (all pages again) and ``404.html``. Dropped within pages:
code blocks, tables, headings and navigation.

Manual pages (``usr/share/man``, ``man<N>/``), Debian ``copyright`` files, changelogs and licence
pages are held out or boilerplate and skipped (:func:`._technical.is_held_out_path`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from . import register
from ._technical import clean_technical, find_dir, html_pages, read_html_pages
from .base import Source

BOOKS = ("book", "reference", "nomicon", "rust-by-example", "edition-guide", "embedded-book", "rustc",
         "rustdoc", "unstable-book")


def skip(rel: str) -> bool:
    return rel.rsplit("/", 1)[-1] in ("print.html", "404.html", "toc.html")


def read(root: Path) -> Iterator[list[str]]:
    html = find_dir(root, "usr/share/doc/rust-doc/html")
    for book in BOOKS:
        if (html / book).is_dir():
            yield from read_html_pages(html_pages(html / book, skip))


SOURCE = register(Source(
    name="rust-doc", kind="apt", package="rust-doc", version="1.63.0+dfsg1-2", licence="MIT or Apache-2.0",
    register="technical", description="the Rust books (API reference skipped)", read=read, clean=clean_technical,
))
