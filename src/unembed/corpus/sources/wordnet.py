"""Usage examples quoted in WordNet 3.0 glosses, from Debian's wordnet-base (WordNet licence)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from . import register
from .base import Source, SourceUnavailable


_WORDNET_EXAMPLE = re.compile(r'"([^"]+)"')


def read(root: Path) -> Iterator[list[str]]:
    files = [p for pos in ("noun", "verb", "adj", "adv") for p in sorted(root.rglob(f"data.{pos}"))]
    if not files:
        raise SourceUnavailable("no WordNet data.* files inside the package")
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  ") or " | " not in line:
                    continue  # licence header
                gloss = line.split(" | ", 1)[1]
                for example in _WORDNET_EXAMPLE.findall(gloss):
                    yield [example]


SOURCE = register(Source(
    name="wordnet", kind="apt", package="wordnet-base", version="1:3.0-37", licence="WordNet 3.0 licence",
    register="reference", description="WordNet 3.0 usage examples", read=read, capitalize=True,
))
