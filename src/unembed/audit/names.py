"""The name-list attack: whom a stored vector mentions, for an attacker who holds a list of names.

An inverter that writes "i will send this contract on the message." for a record naming Maria
Garcia makes an audit report "0 names recovered", yet the vector still says who the record is about.
An attacker with a staff directory, a customer list or a leaked member list embeds each bare name
once and ranks the names by cosine to every stored vector: the person the record mentions comes out
on top. This is attribute inference rather than inversion (Song & Raghunathan, "Information Leakage
in Embedding Models", CCS 2020, infer sensitive attributes from embeddings with a light model; here
no training is needed at all, only the embedder). Measured on MiniLM (benchmarks/pii_ceiling.py,
BENCHMARKS.md): the right person ranks first among 200 names in 29 of 30 real ``Name <e-mail>``
lines and in 9 of 10 synthetic records.

:class:`NameList` reads the list (one name a line; ``builtin``: the 308 common given names the
audit's name detector knows, so that every audit runs the attack even without a directory), embeds it once, and for each record gives the
top name, its cosine and its margin over the second; where the store keeps the original text it
also says which listed names the original contains and the rank of the best of them, so the audit
measures how often the attack names the right person (against chance, listed names over list size).
A name counts as contained when its words appear contiguously in the original, compared after the
embedder's own normalisation (uncased embedders: case and accents ignored) and with ``.``, ``_`` and
``-`` ignored, so an e-mail address ``maria.garcia@…`` names Maria Garcia.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from ..signature import text_digest

__all__ = ["NameList", "MAX_NAMES", "BUILTIN", "check_names", "load_names"]

BUILTIN = "builtin"  # the audit's own list of common given names (``audit.GIVEN_NAMES``)

MAX_NAMES = 200_000  # a directory of a large organisation; the list is embedded once
TOP = 5  # a record's result keeps this many of the best-ranked names
_WORD = re.compile(r"[^\W_]+|[^\w\s]|_")
_SEPARATORS = frozenset("._-")


def _words(text: str) -> tuple[str, ...]:
    """Lowercased words and punctuation, less the separators of e-mail local parts and double names
    (``. _ -``), so that ``maria.garcia@example.com`` and ``Jean-Luc`` contain their names."""
    return tuple(w for w in _WORD.findall(text.lower()) if w not in _SEPARATORS)


@dataclass
class NameList:
    """A list of names and their vectors. ``load_names(spec, embedder)`` (builtin, none or a file) is the usual
    way in; ``NameList.embed(names, embedder)`` takes a list."""

    names: list[str]
    vectors: np.ndarray  # (K, d), unit length
    source: str = "names"
    normalize: Callable[[str], str] = field(default=lambda s: s, repr=False)

    def __post_init__(self):
        self._by_first: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        for j, name in enumerate(self.names):
            words = _words(self.normalize(name))
            if words:
                self._by_first.setdefault(words[0], []).append((j, words))

    @classmethod
    def read(cls, path: str | Path, embedder, batch_size: int = 256) -> "NameList":
        """One name a line (blank lines and lines starting with ``#`` skipped, repeats dropped)."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"--names {path}: cannot read it ({getattr(exc, 'strerror', None) or exc}); give a "
                             "UTF-8 text file with one name a line") from None
        names = [x for x in lines if not x.lstrip().startswith("#")]
        return cls.embed(names, embedder, source=path.name, batch_size=batch_size, what=f"--names {path}")

    @classmethod
    def embed(cls, names: list[str], embedder, source: str = "names", batch_size: int = 256,
              what: str = "the name list") -> "NameList":
        """Names (blank entries and repeats dropped) embedded by ``embedder``, as an attacker does once."""
        names = list(dict.fromkeys(x.strip() for x in names if x.strip()))
        if len(names) < 2:
            raise InputError(f"{what}: {len(names)} name(s); the attack ranks names, so give at least 2, one a line")
        if len(names) > MAX_NAMES:
            raise InputError(f"{what}: {len(names):,} names, more than {MAX_NAMES:,}; split the list")
        vecs = np.concatenate([np.asarray(embedder.embed(names[i:i + batch_size]), dtype=np.float32)
                               for i in range(0, len(names), batch_size)])
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        uncased = not getattr(embedder, "cased", True)
        return cls(names, vecs, source, embedder.normalize_text if uncased else (lambda s: s))

    @property
    def builtin(self) -> bool:
        return self.source == BUILTIN

    def describe(self) -> dict:
        """What the list was, for the audit's settings (the names themselves stay out of the summary)."""
        return {"file": self.source, "names": len(self.names), "digest": text_digest(self.names)}

    def contained(self, text: str) -> list[int]:
        """Indexes of the listed names whose words appear contiguously in ``text``."""
        words = _words(self.normalize(text))
        hits = set()
        for i, w in enumerate(words):
            for j, name in self._by_first.get(w, ()):
                if words[i:i + len(name)] == name:
                    hits.add(j)
        return sorted(hits)

    def rank(self, vectors: np.ndarray, originals: list[str | None] | None = None) -> list[dict]:
        """For each vector: ``guesses`` (the :data:`TOP` best names with their cosines) and ``margin``
        (best minus second cosine); with its original, ``listed`` (the names it contains) and ``rank``
        (1-based rank of the best of them, None when it contains none) and ``chance`` (listed names over list
        size: the odds of a blind guess)."""
        v = np.asarray(vectors, dtype=np.float32)
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        scores = v @ self.vectors.T
        top = min(TOP, len(self.names))
        best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
        out = []
        for i, row in enumerate(scores):
            order = best[i][np.argsort(-row[best[i]])]
            rec = {"guesses": [[self.names[j], round(float(row[j]), 4)] for j in order],
                   "margin": round(float(row[order[0]] - row[order[1]]), 4)}
            original = originals[i] if originals is not None else None
            if original is not None:
                listed = self.contained(original)
                rec["listed"] = [self.names[j] for j in listed]
                rec["rank"] = 1 + int((row > row[listed].max()).sum()) if listed else None
                rec["chance"] = len(listed) / len(self.names)  # of ranking a listed name first by luck
            out.append(rec)
        return out


def check_names(spec: str | Path | None) -> None:
    """Refuse a ``--names`` that is neither ``builtin``, ``none`` nor a file, before anything loads."""
    if spec is not None and str(spec) not in (BUILTIN, "none") and not Path(spec).is_file():
        raise InputError(f"--names {spec}: no such file; give a text file with one name a line, builtin (common "
                         "given names) or none")


def load_names(spec: str | Path | None, embedder) -> NameList | None:
    """``builtin`` (the audit's common given names), ``none`` / None (no name-list attack), or a file."""
    check_names(spec)
    if spec is None or str(spec) == "none":
        return None
    if str(spec) == BUILTIN:
        from .audit import GIVEN_NAMES

        return NameList.embed(sorted(GIVEN_NAMES), embedder, source=BUILTIN)
    return NameList.read(spec, embedder)
