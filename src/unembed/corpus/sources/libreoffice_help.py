"""LibreOffice 7.4 help (English, HTML) from Debian's libreoffice-help-en-us.

Read: the help pages under ``usr/share/libreoffice/help/en-US/text``, one document a page, its prose
paragraphs in order. Dropped: the page chrome (header, module menu, index and contents sidebars,
footer), headings, tables (shortcut and function-argument tables), code listings (Basic examples in
``<pre>`` and ``bascode`` blocks) and one-line labels.

Manual pages (``usr/share/man``, ``man<N>/``), Debian ``copyright`` files, changelogs and licence
pages are held out or boilerplate and skipped (:func:`._technical.is_held_out_path`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from . import register
from ._technical import clean_technical, find_dir, html_pages, read_html_pages
from .base import Source

# Class names of the help pages' chrome and code, besides the default ones (matched whole).
_LO_SKIP_CLASS = re.compile(
    r"contents-treeview|index-label|dropdowns|modules|bascode|pycode|example|bm_module|relatedtopics|"
    r"debug|howtoget|embedded|logo|symbol|lang|leftside|rightside|donation",
    re.IGNORECASE,
)


def read(root: Path) -> Iterator[list[str]]:
    pages = html_pages(find_dir(root, "usr/share/libreoffice/help/en-US/text"))
    yield from read_html_pages(pages, skip_class=_LO_SKIP_CLASS)


SOURCE = register(Source(
    name="libreoffice-help", kind="apt", package="libreoffice-help-en-us", version="4:7.4.7-1+deb12u14",
    licence="MPL-2.0", register="instructions", description="LibreOffice 7.4 help pages (English)", read=read,
    clean=clean_technical,
))
