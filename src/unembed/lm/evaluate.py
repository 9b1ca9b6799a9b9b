"""Scoring an LM inverter on held-out prompts, with its baselines and a Signature.

Metrics are the project's (``unembed.metrics``: sacrebleu BLEU per pair, token F1, exact match).
The decoder writes MiniLM's uncased WordPiece, so headline scores compare texts after lowercasing
and accent stripping (the signature says so) and the case-sensitive ones are kept beside, as for the
uncased embedders.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..metrics import score
from ..reporting import LogReporter, Reporter
from ..signature import Signature, text_digest
from .access import Observation
from .inverter import LMInverter
from .reobserve import recover
from .targets import LocalTarget, Target

__all__ = ["LMEvaluation", "evaluate_lm", "uncased", "observe_for", "by_length", "LENGTH_BUCKETS"]

NORMALISATION = "WordPiece uncased: lowercase, accents stripped, whitespace collapsed"
LENGTH_BUCKETS = ((1, 8), (9, 16), (17, 32), (33, None))  # prompt length in the target's tokens


def uncased(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.split())


@dataclass
class LMEvaluation:
    bleu: float
    token_f1: float
    exact_match: float
    n: int
    access: str
    queries_per_prompt: float
    signature: Signature
    cased: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)
    recovered: float | None = None
    by_length: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"bleu": self.bleu, "token_f1": self.token_f1, "exact_match": self.exact_match, "n": self.n,
                "access": self.access, "queries_per_prompt": self.queries_per_prompt,
                "signature": self.signature.to_dict(), "cased": self.cased, "baselines": self.baselines,
                "logit_bias_recovered": self.recovered, "by_length": self.by_length, "examples": self.examples}


def observe_for(inverter: LMInverter, target: Target, prompts: Sequence[str], access=None) -> Observation:
    from .training import projection_for

    access = access or inverter.access
    projection = projection_for(target) if access.mode == "probs" else None
    out = []
    for s in range(0, len(prompts), 32):
        out.append(access.observe(target, list(prompts[s: s + 32]), projection))
    obs = Observation(access.spec, None if out[0].features is None else np.concatenate([o.features for o in out]),
                      None if out[0].samples is None else [x for o in out for x in o.samples],
                      [q for o in out for q in o.queries])
    rec = [o.recovered for o in out if o.recovered is not None]
    obs.recovered = float(np.mean(rec)) if rec else None
    return obs


def by_length(target: Target, prompts: Sequence[str], preds: Sequence[str]) -> dict:
    """Scores per prompt-length bucket (``LENGTH_BUCKETS``), lengths counted in the target's tokens
    when it is a local model, whose tokenizer is free to ask; words otherwise (an endpoint's ``encode``
    is a request): ``{"unit": ..., "buckets": [{"tokens", "n", "bleu", "token_f1", "exact_match"},
    ...]}``, empty buckets left out."""
    enc = target.encode if isinstance(target, LocalTarget) else None
    unit = "target tokens" if enc is not None else "words"
    lengths = [len(enc(p)) if enc is not None else len(p.split()) for p in prompts]
    rows = []
    for lo, hi in LENGTH_BUCKETS:
        idx = [i for i, n in enumerate(lengths) if n >= lo and (hi is None or n <= hi)]
        if not idx:
            continue
        m = score([preds[i] for i in idx], [prompts[i] for i in idx], normalize=uncased,
                  normalization_name=NORMALISATION)
        rows.append({"tokens": f"{lo}-{hi}" if hi else f"{lo}+", "n": len(idx), "bleu": m["bleu"],
                     "token_f1": m["token_f1"], "exact_match": m["exact_match"]})
    return {"unit": unit, "buckets": rows}


def evaluate_lm(inverter: LMInverter, target: Target, prompts: Sequence[str], beams: int = 1,
                baselines: bool = True, observation: Observation | None = None,
                reporter: Reporter | None = None, n_examples: int = 20, rerank: int = 0) -> LMEvaluation:
    """Scores of ``inverter`` on ``prompts`` observed through ``target``. ``rerank=n`` re-observes the
    decoder's n best candidates (:mod:`unembed.lm.reobserve`) and counts their queries per prompt."""
    reporter = reporter or LogReporter()
    prompts = list(prompts)
    rerank = rerank if rerank > 1 else 0  # one candidate is no choice
    reporter.note(f"observing {len(prompts)} prompts through {inverter.access.spec}")
    obs = observation or observe_for(inverter, target, prompts)
    if rerank > 1:
        reporter.note(f"re-observing the {rerank} best candidates of each prompt")
    preds, queries = recover(inverter, target, obs, beams, rerank)
    m = score(preds, prompts, normalize=uncased, normalization_name=NORMALISATION)
    base: dict = {}
    if baselines:
        from .baselines import ask_the_model

        ask = ask_the_model(target, prompts, normalize=uncased)
        base["ask_the_model"] = {k: v for k, v in ask.items() if k != "predictions"}
        nn = inverter.nearest(obs)
        if nn is not None:
            mn = score(nn, prompts, normalize=uncased)
            base["nearest_neighbour"] = {"bleu": mn["bleu"], "token_f1": mn["token_f1"], "exact_match": mn["exact_match"]}
    qpp = float(np.mean(queries)) if queries else 0.0
    sig = Signature({"inverter": inverter.name, "target": target.fingerprint(), "access": obs.access,
                     "data": text_digest(prompts), "n": len(prompts), "beams": max(beams, rerank), "rerank": rerank,
                     "max_tokens": inverter.meta["max_prompt_tokens"], "norm": "uncased"},
                    metrics={**m["metrics_signature"]}, kind="lm-eval")
    examples = [{"prompt": p, "recovered": r} for p, r in zip(prompts[:n_examples], preds[:n_examples])]
    return LMEvaluation(m["bleu"], m["token_f1"], m["exact_match"], len(prompts), obs.access, qpp, sig,
                        cased=m.get("cased", {}), baselines=base, examples=examples, recovered=obs.recovered,
                        by_length=by_length(target, prompts, preds))
