"""Name lines of the kernel's MAINTAINERS file (``Name <email>``), held out as the "names" set.

Read: ``process/maintainers.html`` of Debian's linux-doc-6.1 (the MAINTAINERS file rendered by
Sphinx), the ``Mail`` and ``Reviewer`` fields: one document a ``Name <email>`` line. Dropped: mailing
lists and other fields (files, trees, status). Held out (``role="heldout"``): never trained on, an
evaluation set of its own. (CREDITS is not in any bookworm documentation package: linux-doc ships
MAINTAINERS only, and linux-source's tarball holds the kernel's code.)

Only the file(s) named above are read: manual pages, Debian ``copyright`` files (held out),
changelogs and licence texts of the package are never opened.
"""
from __future__ import annotations

import html as html_lib
import re
from pathlib import Path
from typing import Iterator

from . import register
from ._technical import clean_name_line, read_text_file
from .base import Source, find_one

_FIELD = re.compile(r"<dt[^>]*>(Mail|Reviewer)<span[^>]*>:</span></dt>\s*<dd[^>]*>(.*?)</dd>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def name_lines(page: str) -> Iterator[str]:
    """The ``Name <email>`` lines of the Mail and Reviewer fields of the rendered MAINTAINERS."""
    for m in _FIELD.finditer(page):
        text = html_lib.unescape(_TAG.sub("", m.group(2)))
        for line in text.split("\n"):
            line = " ".join(line.split())
            if line:
                yield line


def read(root: Path) -> Iterator[list[str]]:
    page = find_one(root, "maintainers.html")
    path = next((p for p in sorted(root.rglob("maintainers.html")) if p.parent.name == "process"
                 and "translations" not in p.parts), page)
    for line in name_lines(read_text_file(path)):
        yield [line]


SOURCE = register(Source(
    name="kernel-maintainers", kind="apt", package="linux-doc-6.1", version="6.1.176-1", licence="GPL-2.0",
    register="names", description="Name <email> lines of the kernel's MAINTAINERS (held out)", read=read,
    role="heldout", clean=clean_name_line,
))
