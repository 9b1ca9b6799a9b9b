"""English questions from the fake-data generator mimesis (PyPI), read from its data.

Read: the ``questions`` list of ``mimesis/datasets/en/text.json`` (data, never the package's
code), one document a question. Dropped: everything else in its datasets (names, words, formats).

Only the file(s) named above are read: manual pages, Debian ``copyright`` files (held out),
changelogs and licence texts of the package are never opened.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from . import register
from .base import Source, SourceUnavailable


def read(root: Path) -> Iterator[list[str]]:
    path = next((p for p in sorted(root.rglob("text.json")) if p.parent.name == "en"), None)
    if path is None:
        raise SourceUnavailable("no datasets/en/text.json inside the package")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SourceUnavailable(f"cannot read {path.name}: {e}") from None
    for question in data.get("questions") or []:
        if isinstance(question, str):
            yield [" ".join(question.split())]


SOURCE = register(Source(
    name="mimesis-questions", kind="pypi", package="mimesis", version="22.2.0", licence="MIT",
    register="dialogue", description="English questions from mimesis' datasets", read=read,
))
