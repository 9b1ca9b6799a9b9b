"""The settings of a ``defend`` run, and the defences it measures by default.

Light on purpose (no torch, no inversion): the command line reads every default from here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError

__all__ = ["DEFAULT_DEFENCES", "DefendConfig"]

#: What ``unembed defend`` measures unless told otherwise (the command line's default reads this).
DEFAULT_DEFENCES = "noise:0.001,noise:0.01,noise:0.1,rotate:7,int8,binary,pq:16x8,pca:64,ldp:8"


@dataclass
class DefendConfig:
    """Settings of one ``defend`` run (every number can be shrunk for a quick look)."""

    out: str
    defences: str | list[str] = DEFAULT_DEFENCES
    n_texts: int = 200  # texts whose defended vectors are inverted
    steps: int = 5  # correction steps of every inversion
    beam: int = 2
    seed: int = 0
    corpus: str | None = None  # None: the corpus the inverter was trained on
    split: str = "test"  # the split of that corpus the texts come from
    texts: str | None = None  # a .txt/.jsonl file of texts instead of a corpus split
    n_queries: int = 300
    n_passages: int = 2000
    fit_texts: int = 10000  # training-corpus texts the fitted defences (pq, pca, int8) are fitted on
    adaptive_steps: int = 300  # fine-tuning steps of the adaptive attacker's hypothesizer (0: none)
    adaptive_corrector_steps: int = 100  # then of its corrector (0: keep the clean corrector)
    adaptive_texts: int = 4096  # training-corpus texts it fine-tunes on
    adaptive_batch_size: int = 32
    adaptive_lr: float = 1e-4
    leaked_pairs: tuple[int, ...] = (10, 100, 1000)  # k of the least-squares attacker (rotation, masking)
    threshold: float = 10.0  # BLEU the recommended defence must stay below
    batch_size: int = 64
    mixed_precision: str = "auto"  # of the fine-tuning
    resume: bool = False
    keep_adaptive: bool = False  # keep the fine-tuned attackers' checkpoints in out/adaptive

    def check(self) -> None:
        for name in ("n_texts", "n_queries", "n_passages", "fit_texts", "adaptive_texts", "adaptive_batch_size",
                     "batch_size", "beam"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name.replace('_', '-')} must be a positive integer, not {v!r}")
        for name in ("steps", "adaptive_steps", "adaptive_corrector_steps", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InputError(f"{name.replace('_', '-')} must be an integer >= 0, not {v!r}")
        if any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in self.leaked_pairs):
            raise InputError(f"leaked pairs must be positive integers, not {list(self.leaked_pairs)}")
        if not (math.isfinite(self.adaptive_lr) and self.adaptive_lr > 0):
            raise InputError(f"adaptive-lr must be a positive number, not {self.adaptive_lr}")
        if not (math.isfinite(self.threshold) and 0 <= self.threshold <= 100):
            raise InputError(f"threshold is a BLEU score between 0 and 100, not {self.threshold}")
        if self.split not in ("train", "validation", "test", "ood"):
            raise InputError(f"unknown split '{self.split}': use test, validation, ood or train")
