"""Evaluating an inverter on texts: embed, invert, score, and sign the result.

Under ``torchrun`` / ``accelerate launch`` (several processes), :func:`evaluate` shares the texts
out in blocks of ``batch_size`` (block ``k`` to rank ``k % P``), so every process inverts exactly the
batches a single process would; the inversions are gathered and every process scores all of them,
giving the single-process result.

Every result carries a :class:`~unembed.signature.Signature` of how it was computed (metric
settings, model, embedder, data, steps, beam, early stopping, seed, versions), in the spirit of
sacrebleu's signatures, so that a number can be reproduced or told apart from one computed
differently.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..metrics import score
from ..signature import Signature, text_digest
from .inverter import Inversion

__all__ = ["Evaluation", "evaluate", "sample", "text_digest"]


def _sharded_invert(ctx, inverter, vectors, steps, beam, batch_size, early_stop, progress, edits=0) -> list[Inversion]:
    """This rank's blocks of ``batch_size`` inverted, every rank's gathered in order (on every rank)."""
    n = len(vectors)
    mine = [i for k, start in enumerate(range(0, n, batch_size)) if k % ctx.world == ctx.rank
            for i in range(start, min(n, start + batch_size))]
    part = inverter.invert(vectors[mine], steps=steps, beam=beam, batch_size=batch_size, early_stop=early_stop, edits=edits,
                           progress=progress) if mine else []
    stats = dict(inverter.stats)
    gathered = ctx.gather((mine, part, stats))
    merged = None
    if ctx.main:
        out: list = [None] * n
        for idx, res, _ in gathered:
            for i, r in zip(idx, res):
                out[i] = r
        every = [st for _, _, st in gathered if st]
        seconds = max((st.get("seconds", 0.0) for st in every), default=0.0)
        total = {k: sum(st.get(k, 0) for st in every) for k in ("embedder_calls", "texts_embedded")}
        total.update(seconds=seconds, n=n, inversions_per_second=n / max(seconds, 1e-9), processes=ctx.world)
        merged = (out, total)
    out, total = ctx.broadcast(merged)
    inverter.stats = {**inverter.stats, **total}
    return out


def sample(texts: list[str], limit: int | None, seed: int) -> list[str]:
    """The first ``limit`` texts of a seeded shuffle (all texts, in order, when limit is None)."""
    if limit is None or limit >= len(texts):
        return list(texts)
    order = np.random.default_rng(seed).permutation(len(texts))[:limit]
    return [texts[i] for i in sorted(order)]


@dataclass
class Evaluation:
    """The scores of one evaluation (each 0-100 except cosine), how they were computed, and the
    recovered texts. ``to_dict()`` is the JSON ``unembed eval --json`` prints."""

    bleu: float
    token_f1: float
    exact_match: float
    rouge_l: float
    cosine: float
    n: int
    steps: int
    beam: int
    cased: dict | None
    inversions_per_second: float
    embedder_calls: int
    texts_embedded_per_inversion: float
    mean_steps_run: float
    signature: Signature
    examples: list[dict] = field(default_factory=list)
    results: list[Inversion] = field(default_factory=list, repr=False)
    references: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        keys = ("bleu", "token_f1", "exact_match", "rouge_l", "cosine", "n", "steps", "beam", "cased",
                "inversions_per_second", "embedder_calls", "texts_embedded_per_inversion", "mean_steps_run")
        return {**{k: getattr(self, k) for k in keys}, "signature": self.signature.to_dict(),
                "examples": list(self.examples)}


def evaluate(inverter, texts: Sequence[str], steps: int = 20, beam: int = 4, data_name: str = "texts",
             seed: int = 0, batch_size: int = 64, early_stop: bool = True, progress=None, edits: int = 0) -> Evaluation:
    """Invert the embeddings of ``texts`` and score the recovered texts against them.

    ``edits``: token-level edits at that many doubted positions a step (``Inverter.invert``); named
    in the signature when used.

    Headline metrics compare texts after the embedder's own normalisation when it is uncased (its
    vectors hold no case), and the case-sensitive figures are reported beside them under ``cased``.
    """
    texts = [t for t in texts]
    if not texts:
        raise InputError("no texts to evaluate")
    from ..distributed import context

    embedder = inverter.embedder
    vectors = embedder.embed(texts)
    ctx = context()
    if ctx.sharded:
        results = _sharded_invert(ctx, inverter, vectors, steps, beam, batch_size, early_stop, progress, edits)
    else:
        results = inverter.invert(vectors, steps=steps, beam=beam, batch_size=batch_size, early_stop=early_stop,
                                  progress=progress, edits=edits)
    uncased = not getattr(embedder, "cased", True)
    norm_name = f"{embedder.name} text normalisation (uncased: lowercase, accents stripped)" if uncased else "none"
    m = score([r.text for r in results], texts, normalize=embedder.normalize_text if uncased else None,
              normalization_name=norm_name, cosines=[r.cosine for r in results])
    stats = inverter.stats
    sig = Signature({
        "model": inverter.model_id,
        "embedder": embedder.name,
        "data": f"{data_name}@{text_digest(texts)}",
        "n": len(texts),
        "steps": steps,
        "beam": beam,
        **({"edits": edits} if edits else {}),
        "early_stop": "yes" if early_stop else "no",
        "precision": inverter.precision,
        "norm": "uncased" if uncased else "none",
        "seed": seed,
    }, metrics=m.pop("metrics_signature"), kind="eval")
    return Evaluation(
        **{k: m[k] for k in ("bleu", "token_f1", "exact_match", "rouge_l", "cosine", "n")},
        steps=steps, beam=beam, cased=m.get("cased"),
        inversions_per_second=stats["inversions_per_second"], embedder_calls=stats["embedder_calls"],
        texts_embedded_per_inversion=stats["texts_embedded"] / len(texts),
        mean_steps_run=float(np.mean([r.steps for r in results])), signature=sig,
        examples=[{"reference": t, "prediction": r.text, "cosine": r.cosine} for t, r in zip(texts[:5], results[:5])],
        results=results, references=texts,
    )
