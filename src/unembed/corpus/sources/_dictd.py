"""Reading dictd databases (``NAME.index`` + ``NAME.dict.dz``), as Debian's dict-* packages ship them.

The index has one line an entry: headword, offset and length in dictd's base-64 digits; the data
file is gzip (dictzip) compressed. ``00-database-*`` entries (the database's own information,
URLs and licence) are skipped. This module registers no source (its name starts with ``_``).
"""
from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Callable, Iterator

from .base import SourceUnavailable, find_one

__all__ = ["dictd_documents", "dictd_entries", "paragraphs", "strip_markup"]

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64(text: str) -> int:
    value = 0
    for c in text:
        value = value * 64 + _B64.index(c)
    return value


def dictd_documents(root: Path, name: str, sentences: Callable[[str], list[str]]) -> Iterator[list[str]]:
    """One document an entry of the dictd database ``name``: ``sentences(entry text)``, where it has any."""
    for _, text in dictd_entries(root, name):
        doc = sentences(text)
        if doc:
            yield doc


def dictd_entries(root: Path, name: str) -> Iterator[tuple[str, str]]:
    """(headword, entry text) of each entry of the dictd database ``name``, in index order; an
    entry listed under several headwords is read once."""
    index = find_one(root, f"{name}.index")
    data_path = index.with_name(f"{name}.dict.dz")
    if not data_path.exists():
        data_path = index.with_name(f"{name}.dict")
    try:
        raw = data_path.read_bytes()
        data = gzip.decompress(raw) if data_path.suffix == ".dz" else raw
        lines = index.read_text(encoding="utf-8", errors="replace").splitlines()
    except (OSError, EOFError) as e:
        raise SourceUnavailable(f"cannot read the {name} dictd database: {e}") from None
    seen: set[int] = set()
    for line in lines:
        fields = line.split("\t")
        if len(fields) < 3 or fields[0].startswith("00-database") or fields[0].startswith("00database"):
            continue
        try:
            offset, length = _b64(fields[1]), _b64(fields[2])
        except ValueError:
            continue
        if offset in seen:
            continue
        seen.add(offset)
        yield fields[0], data[offset : offset + length].decode("utf-8", errors="replace")


def paragraphs(text: str, *, indent_starts: bool = False) -> list[list[str]]:
    """The paragraphs of an entry as lists of lines: blank lines separate them and, with
    ``indent_starts``, so does a line that starts with whitespace after an unindented one."""
    out: list[list[str]] = []
    current: list[str] = []
    for line in text.split("\n"):
        if not line.strip() or (indent_starts and line[:1].isspace() and current):
            if current:
                out.append(current)
            current = [line] if line.strip() else []
        else:
            current.append(line)
    if current:
        out.append(current)
    return out


_XREF = re.compile(r"\{([^{}]*)\}")
_CATEGORY = re.compile(r"^(?:\s*<[^<>]{1,40}>\s*)+")
_SENSE = re.compile(r"^\s*\d{1,2}\.\s+")


def strip_markup(text: str) -> str:
    """Cross-references ``{word}`` become the word; leading ``<category>`` tags and sense numbers
    (``1.``) go; whitespace is folded."""
    text = _XREF.sub(r"\1", " ".join(text.split()))
    text = _CATEGORY.sub("", text)
    return _SENSE.sub("", text).strip()
