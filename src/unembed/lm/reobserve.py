"""Re-observation: the decoder's n best candidates, each run through the target, and the one whose
outputs come closest to the observed outputs kept.

This is the LM side of the embedding inverter's sequence-level beam (Morris et al., "Text Embeddings
Reveal (Almost) As Much As Text", 2023): there a candidate is re-embedded and ranked by cosine to the
target embedding; here it is re-observed through the same access mode, on the same target, and ranked
by its distance to what the hidden prompt produced. The true prompt is at distance 0, so whenever the
beam holds it, it wins. An attacker with query access to the target can always do this, and pays for
it in queries, which are counted: each candidate costs what observing one prompt costs (one query in
``probs``, the logit_bias plan's queries in ``topk``).

The distance is the squared Euclidean distance between the observations standardised with the
inverter's training mean and spread (the features it was trained on), over all positions; measured
on the shipped Gemma inverter in BENCHMARKS.md, "Re-observing the beam".

Deliberate limits: vector modes only. A ``samples`` observation has no distance to re-observe
against short of sampling again for every candidate, whose noise would swamp the ranking.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from .access import Observation
from .inverter import LMInverter
from .targets import Target

__all__ = ["recover", "closest_by_reobservation", "observation_distance"]


def observation_distance(inverter: LMInverter, observed: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Squared distances (n,) between one observation (P, F) and n candidates' (n, P, F), in the
    inverter's standardised feature space."""
    mean = inverter.model.feature_mean.numpy()
    std = inverter.model.feature_std.numpy()
    o = ((observed - mean) / std).reshape(-1)
    c = ((candidates - mean) / std).reshape(len(candidates), -1)
    return ((c - o) ** 2).sum(1)


def closest_by_reobservation(inverter: LMInverter, target: Target, observed: Observation,
                             candidates: Sequence[Sequence[str]]) -> tuple[list[str], list[int]]:
    """For each observed prompt, the candidate whose re-observation is closest to it, and the queries
    its candidates cost (each prompt's distinct candidates observed once)."""
    from .evaluate import observe_for

    if observed.features is None:
        raise InputError(f"re-observation needs a vector access mode (probs or topk), not {observed.access}")
    pools = [list(dict.fromkeys(c)) for c in candidates]
    flat = [x for pool in pools for x in pool]
    seen = observe_for(inverter, target, flat, access=inverter.access)
    chosen, queries, at = [], [], 0
    for i, pool in enumerate(pools):
        feats = seen.features[at: at + len(pool)]
        d = observation_distance(inverter, observed.features[i], feats)
        chosen.append(pool[int(np.argmin(d))])
        queries.append(int(sum(seen.queries[at: at + len(pool)])) if seen.queries else 0)
        at += len(pool)
    return chosen, queries


def recover(inverter: LMInverter, target: Target, observed: Observation, beams: int = 1, rerank: int = 0,
            batch_size: int = 32, max_tokens: int | None = None) -> tuple[list[str], list[int]]:
    """Recovered prompts and the queries each cost in all: observing it, and with ``rerank=n`` > 1
    re-observing its n best candidates."""
    queries = list(observed.queries) or [0] * len(observed)
    if rerank <= 1:
        return inverter.invert(observed, beams=beams, batch_size=batch_size, max_tokens=max_tokens), queries
    if observed.features is None:  # before decoding: refused at once, not after the beam search
        raise InputError(f"--rerank needs a vector access mode (probs or topk), not {observed.access}: "
                         "sampled outputs have no distance to re-observe against")
    pools = inverter.candidates(observed, rerank, max(beams, rerank), batch_size, max_tokens)
    chosen, extra = closest_by_reobservation(inverter, target, observed, pools)
    return chosen, [q + e for q, e in zip(queries, extra)]
