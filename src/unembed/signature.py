"""Signatures: a string that says how a number was computed, carried by every result.

The idea is sacrebleu's (Post, "A Call for Clarity in Reporting BLEU Scores", WMT 2018): a score
without the settings that produced it cannot be compared with another. Every evaluation, audit,
defence run and glitch audit of unembed returns a :class:`Signature` built from the same parts:

- ``fields``: what was measured, in order: model id, embedder, data digest, n, steps, beam, ...;
  the string is ``key:value|key:value|...`` over them, ending with ``unembed:<version>``;
- ``metrics``: how each metric is computed (tokeniser, smoothing, normalisation), kept beside the
  string because it is long and the same for most runs.

``Signature.to_dict()`` gives ``{**fields, "metrics": ..., "string": ...}``, the form written into
every JSON result.

Layer rule: standard library only.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Sequence

__all__ = ["Signature", "unembed_version", "text_digest"]


def unembed_version() -> str:
    """The installed unembed version ("dev" when running from a source tree without metadata)."""
    try:
        return version("unembed")
    except PackageNotFoundError:
        return "dev"


def text_digest(texts: Sequence[str]) -> str:
    """A short digest of a list of texts (order matters): the ``data`` part of a signature."""
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Signature:
    """How a result was computed. ``str(sig)`` is the one-line form; ``to_dict()`` the JSON form."""

    fields: dict[str, Any]
    metrics: dict[str, str] | None = None
    kind: str = "eval"  # eval, audit, defend, glitch, lm-eval, ...
    extra: tuple[str, ...] = field(default=())  # fields written after the version in the string

    def __post_init__(self) -> None:
        if "unembed" not in self.fields:
            object.__setattr__(self, "fields", {**self.fields, "unembed": unembed_version()})

    def __str__(self) -> str:
        main = [k for k in self.fields if k not in self.extra and k != "unembed"] + ["unembed"]
        keys = main + [k for k in self.extra if k in self.fields]
        return "|".join(f"{k}:{self.fields[k]}" for k in keys)

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.fields)
        if self.metrics is not None:
            out["metrics"] = dict(self.metrics)
        out["string"] = str(self)
        return out
