"""The Apache HTTP Server 2.4 manual (English HTML) from Debian's apache2-doc.

Read: the English pages under ``usr/share/doc/apache2-doc/manual/en``, one document a page.
Held out and skipped: ``programs/`` (the manual pages of httpd, apachectl, ab, ...: evaluation
material). Also skipped: the licence page, the sitemap and index pages (the other languages live
in folders of their own and are not read). Dropped
within pages: examples (``<pre>``), directive tables, headings and navigation.

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
    """programs/ is held out (manual pages' twins); licence, sitemap and index pages skipped."""
    parts = rel.split("/")
    if "programs" in parts[:-1]:
        return True
    return parts[-1].startswith(("license", "sitemap", "quickreference", "index", "directives"))


def read(root: Path) -> Iterator[list[str]]:
    yield from read_html_pages(html_pages(find_dir(root, "usr/share/doc/apache2-doc/manual/en"), skip))


SOURCE = register(Source(
    name="apache2-doc", kind="apt", package="apache2-doc", version="2.4.68-1~deb12u1", licence="Apache-2.0",
    register="technical", description="Apache HTTP Server 2.4 manual (programs/ held out)", read=read,
    clean=clean_technical,
))
