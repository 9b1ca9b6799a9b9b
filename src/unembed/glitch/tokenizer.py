"""The vocabulary as the tokenizer sees it: token strings, special and known-unused tokens, and
the checks that find tokens no text reaches (unreachable) or that do not survive decode -> encode.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

__all__ = ["KNOWN_UNUSED_PATTERNS", "Codec", "vocabulary", "special_ids", "known_unused", "tokenizer_checks"]

# Token strings that tokenizers use for slots reserved but never filled (BERT, Gemma, Llama 3, fairseq).
KNOWN_UNUSED_PATTERNS = (
    r"\[unused\d+\]",
    r"<unused\d+>",
    r"<\|reserved_special_token_\d+\|>",
    r"<\|reserved_\d+\|>",
    r"<\|unused_?\d+\|>",
    r"madeupword\d+",
)
_KNOWN_UNUSED = re.compile("|".join(f"(?:{p})" for p in KNOWN_UNUSED_PATTERNS), re.IGNORECASE)


class Codec:
    """Batched decode / encode through the fast tokenizer's backend when there is one."""

    def __init__(self, tokenizer):
        from tokenizers import Tokenizer

        self.tok = tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:  # a private copy: the model's own may pad or truncate, and is shared
            backend = Tokenizer.from_str(backend.to_str())
            backend.no_padding()
            backend.no_truncation()
        self.backend = backend

    def decode(self, rows: list[list[int]]) -> list[str]:
        if self.backend is not None:
            return self.backend.decode_batch(rows, skip_special_tokens=False)
        return [self.tok.decode(r, skip_special_tokens=False, clean_up_tokenization_spaces=False) for r in rows]

    def encode(self, texts: list[str], special: bool = False) -> list[list[int]]:
        if self.backend is not None:
            return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=special)]
        return [self.tok.encode(t, add_special_tokens=special) for t in texts]


def vocabulary(tokenizer, rows: int) -> list[str | None]:
    """Token strings by id for ``rows`` ids (``None`` for rows the tokenizer has no token for)."""
    out: list[str | None] = [None] * rows
    for s, i in tokenizer.get_vocab().items():
        if 0 <= i < rows:
            out[i] = s
    return out


def special_ids(tokenizer) -> set[int]:
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    for i, added in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        if getattr(added, "special", False):
            ids.add(int(i))
    return ids


def known_unused(tokens: Sequence[str | None]) -> np.ndarray:
    """Ids of tokens the tokenizer itself marks as reserved-but-unused, plus rows it has no token for
    (embedding matrices padded past the vocabulary)."""
    return np.array([i for i, s in enumerate(tokens) if s is None or _KNOWN_UNUSED.fullmatch(s)], dtype=np.int64)


def tokenizer_checks(tokenizer, rows: int, n_anchors: int = 3) -> dict[str, Any]:
    """Decode -> encode round trip and reachability of every token id below ``rows``.

    A token *survives* when encoding its decoded text gives back exactly that token, alone or after
    an anchor word (WordPiece continuations and SentencePiece's leading space need a word before them).
    A token is *reachable* when some probe string (the token alone, after or before an anchor) encodes
    to a sequence holding it; a token no probe reaches is reported unreachable (for BERT's normaliser,
    for example, accented or CJK continuation pieces and ``[unusedN]``). Byte tokens that decode to a
    partial UTF-8 character are reported apart: text reaches them only inside longer characters.
    """
    codec = Codec(tokenizer)
    tokens = vocabulary(tokenizer, rows)
    n = len(tokens)
    have = [i for i in range(n) if tokens[i] is not None]
    decoded = [""] * n
    survive = np.zeros(n, dtype=bool)
    reach = np.zeros(n, dtype=bool)
    partial = np.zeros(n, dtype=bool)
    chunk = 4096
    for start in range(0, len(have), chunk):
        ids = have[start:start + chunk]
        texts = codec.decode([[i] for i in ids])
        encs = codec.encode(texts)
        for i, s, e in zip(ids, texts, encs):
            decoded[i] = s
            survive[i] = e == [i]
            reach[i] = i in e
            partial[i] = "\ufffd" in s
    specials = special_ids(tokenizer)
    anchors = sorted((i for i in have if survive[i] and i not in specials and decoded[i].strip().isalpha()
                      and decoded[i].strip().isascii()),
                     key=lambda i: (-len(decoded[i].strip()), i))[:n_anchors]
    todo = [i for i in have if not survive[i]]
    for a in anchors:
        base = codec.encode(codec.decode([[a]]))[0]
        for start in range(0, len(todo), chunk):
            ids = todo[start:start + chunk]
            after = codec.encode(codec.decode([[a, i] for i in ids]))
            before = codec.encode(codec.decode([[i, a] for i in ids]))
            for i, e1, e2 in zip(ids, after, before):
                if e1 == base + [i]:
                    survive[i] = True
                if i in e1 or i in e2:
                    reach[i] = True
    exists = np.array([t is not None for t in tokens])
    unreachable = exists & ~reach & ~partial
    return {"tokens": tokens, "decoded": decoded, "survives": survive, "reachable": reach,
            "unreachable": unreachable, "round_trip_failure": exists & reach & ~survive & ~partial,
            "partial_utf8": partial, "anchors": [tokens[a] for a in anchors], "specials": specials}
