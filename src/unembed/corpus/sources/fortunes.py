"""Fortune cookies from Debian's fortunes package: held out as the out-of-domain set."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from .base import Source, SourceUnavailable


_OVERSTRIKE = re.compile(r".\x08")
_ATTRIBUTION = re.compile(r"^\s*--\s*\S|^\s*-- *$|^\s+-\s+[A-Z]")
_FORTUNE_SKIP = frozenset({"ascii-art", "translate-me"})


def read(root: Path) -> Iterator[list[str]]:
    folder = next((p for p in sorted(root.rglob("fortunes")) if p.is_dir() and "games" in p.parts), None)
    if folder is None:
        raise SourceUnavailable("no fortune files inside the package")
    files = sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.is_symlink() and p.suffix not in (".dat", ".u8") and p.name not in _FORTUNE_SKIP
    )
    for path in files:
        content = _OVERSTRIKE.sub("", path.read_bytes().decode("utf-8", errors="replace"))
        entry: list[str] = []
        for line in content.split("\n") + ["%"]:
            if line.strip() != "%":
                entry.append(line)
                continue
            lines: list[str] = []
            for item in entry:
                if _ATTRIBUTION.match(item):
                    break
                lines.append(item)
            entry = []
            joined = " ".join(" ".join(lines).split())
            if joined:
                sentences = split_sentences(joined)
                if sentences:
                    yield sentences


SOURCE = register(Source(
    name="fortunes", kind="apt", package="fortunes", version="1:1.99.1-7.3", licence="BSD-style (fortune-mod)",
    register="humour", description="fortune cookies (out of domain)", read=read, role="heldout",
))
