"""The Linux kernel's Documentation/ (admin and developer guides), from Debian's linux-doc-6.1.

Read: the Sphinx-rendered HTML pages under ``usr/share/doc/linux-doc-6.1/html`` (one document a
page, its prose paragraphs in order). Dropped: code blocks, tables, headings and navigation (see
:mod:`._technical`), the translations (``translations/``, not English), Sphinx's copies of the
reST sources and index pages, and ``process/maintainers.html`` (the MAINTAINERS list: its name lines
are the held-out source ``kernel-maintainers``). Manual pages, changelogs and licence texts are held
out or boilerplate and skipped. Capped at 150,000 sentences so that the kernel does not swamp the
corpus (the package holds about 174,000): pages are taken in the order of the CRC-32 of their path
relative to ``html/`` (deterministic, and unlike path order it keeps every subsystem's share), and the
page that crosses the cap is the last.

Manual pages (``usr/share/man``, ``man<N>/``), Debian ``copyright`` files, changelogs and licence
pages are held out or boilerplate and skipped (:func:`._technical.is_held_out_path`).
"""
from __future__ import annotations

import zlib
from pathlib import Path
from typing import Iterator

from . import register
from ._technical import cap_documents, clean_technical, html_document, is_held_out_path
from .base import Source, SourceUnavailable

MAX_SENTENCES = 150_000
_SKIP_DIRS = frozenset({"translations", "_sources", "_static", "_images", "_downloads"})
_SKIP_PAGES = frozenset({"genindex.html", "search.html", "py-modindex.html"})


def html_root(root: Path) -> Path:
    """The package's ``usr/share/doc/linux-doc-*/html`` folder."""
    html = next((p for p in sorted(root.rglob("html")) if p.is_dir() and p.parent.name.startswith("linux-doc")), None)
    if html is None:
        raise SourceUnavailable("no linux-doc html folder inside the package")
    return html


def pages(root: Path) -> list[Path]:
    """The HTML pages to read, in path order (held-out and skipped pages left out)."""
    html = html_root(root)
    out = []
    for path in sorted(html.rglob("*.html")):
        rel = path.relative_to(html)
        if _SKIP_DIRS.intersection(rel.parts[:-1]) or rel.name in _SKIP_PAGES or is_held_out_path(rel):
            continue
        if rel.as_posix() == "process/maintainers.html":
            continue  # the MAINTAINERS list: read by the held-out source kernel-maintainers
        out.append(path)
    return out


def cap_order(paths: list[Path], html: Path) -> list[Path]:
    """``paths`` in the order of the CRC-32 of their path relative to ``html`` (ties: the path)."""
    def key(path: Path) -> tuple[int, str]:
        rel = path.relative_to(html).as_posix()
        return zlib.crc32(rel.encode("utf-8")), rel
    return sorted(paths, key=key)


def read(root: Path) -> Iterator[list[str]]:
    documents = (html_document(path) for path in cap_order(pages(root), html_root(root)))
    yield from cap_documents((d for d in documents if d), MAX_SENTENCES)


SOURCE = register(Source(
    name="linux-doc", kind="apt", package="linux-doc-6.1", version="6.1.176-1", licence="GPL-2.0",
    register="technical", description="Linux kernel Documentation/ (HTML), capped at 150k sentences",
    read=read, clean=clean_technical,
))
