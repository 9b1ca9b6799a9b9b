"""A word-level diff of a recovered text against its original, for the live page."""
from __future__ import annotations

import difflib
import re
from typing import Callable

__all__ = ["word_diff", "words"]

_WORD = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]")


def words(text: str) -> list[str]:
    """Words and punctuation marks, in order."""
    return _WORD.findall(text or "")


def word_diff(recovered: str, original: str, normalize: Callable[[str], str] | None = None) -> list[list[str]]:
    """``[[op, word], ...]`` in reading order: ``same`` (recovered, as in the original), ``wrong``
    (recovered, not in the original) and ``missing`` (in the original, not recovered). Words are
    compared after ``normalize`` (the uncased embedder's own lowercasing), shown as written."""
    norm = normalize or (lambda s: s)
    got, want = words(recovered), words(original)
    matcher = difflib.SequenceMatcher(a=[norm(w) for w in want], b=[norm(w) for w in got], autojunk=False)
    out: list[list[str]] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            out.extend(["same", w] for w in got[b0:b1])
            continue
        out.extend(["missing", w] for w in want[a0:a1])
        out.extend(["wrong", w] for w in got[b0:b1])
    return out
