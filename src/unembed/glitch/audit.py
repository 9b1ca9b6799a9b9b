"""Glitch-token audit: find the tokens of a vocabulary that a model never (or barely) learned.

A token whose embedding row was never trained keeps its random initialisation (or drifts with weight
decay); the model cannot use it, and an embedder cannot tell such tokens apart, so text holding them
cannot be recovered from its vector. This module finds them the ways the field does and compares the
ways on the same vocabulary:

* **clustering** of the token-embedding matrix (k-means): tokens close to the global centroid, and
  tokens far from their own cluster's centre, are candidates. Rumbelow & Watkins, "SolidGoldMagikarp
  (plus, prompt generation)", LessWrong 2023 (the glitch tokens of GPT-2/3 sat nearest the centroid);
  Li et al., "GlitchHunter", ASE 2024 (iterated clustering of the embedding space).
* **weight indicators** (Land & Bartolo, "Fishing for Magikarp: Automatically Detecting Under-trained
  Tokens in Large Language Models", EMNLP 2024, arXiv:2405.05417): the L2 norm of the input-embedding
  row, and the cosine distance of each output (unembedding) row to the mean of the known-unused tokens'
  rows after the first principal component is removed. A method's candidates are its most suspicious
  2% (the paper's threshold). The indicator is built from known-unused rows, so its AUC at finding
  known-unused tokens is *cross-fitted*: each half of them is scored by an indicator built from the
  other half (an in-sample AUC, which is circular, is reported beside it only to show the difference).
* **tokenizer checks**: tokens that no probe string encodes to (unreachable) and tokens that do not
  survive decode -> encode.
* **verification by behaviour**. Causal LMs: the paper's test, prompts that ask the model to repeat
  the token; the token is verified when its own probability stays below 0.01 in the first three
  generated positions of every prompt, rejected above 0.1. Encoders and embedders: the token goes into
  carrier sentences (by id, so tokens no string reaches can be tested too) and we measure whether it
  moves the sentence embedding at all and whether different tokens make sentences indistinguishable
  (collisions), both relative to what typical tokens of the same vocabulary do; an inverter, when
  given, is asked to recover the token from those sentence vectors.

Precision and recall of every method are measured against the tokens behaviour verifies, pooled over
every method's candidates plus a random control sample of the vocabulary (TREC-style pooling: recall
is recall within the pool; the control sample estimates what all methods missed).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io import atomic_write, write_json
from ..reporting import LogReporter, Reporter
from ..signature import Signature, text_digest
from .behaviour import (MIN_CONTROL, inverter_check, placeholder_candidates, resolve_inverter, verify_causal,
                        verify_encoder)
from .indicators import (METHOD_INFO, RANKED_METHODS, TOP_FRACTION, crossfit_magikarp, kmeans, principal_axes,
                         roc_auc, suspicion_ranks, wilson_upper)
from .models import VocabModel, load_vocab_model
from .report import render_report
from .tokenizer import known_unused, tokenizer_checks

__all__ = ["GlitchAudit", "audit_vocabulary"]


# How the methods are scored (the signature's metrics; the summary's settings.evaluation).
METRICS = {
    "precision": "verified share of a method's behaviour-tested flagged tokens",
    "recall": "share of the verified tokens in the pool (every method's flagged tokens plus the control sample) that "
              "the method flags",
    "AUC": "known-unused tokens vs eligible tokens",
}
EVALUATION = "; ".join(f"{k}: {v}" for k, v in METRICS.items())


@dataclass
class GlitchAudit:
    """The result of :func:`audit_vocabulary`. ``to_dict()`` is summary.json (and what
    ``unembed glitch --json`` prints): every field below but ``records`` and ``out_dir``, with the
    signature as a dict. ``records``: the per-token rows of candidates.jsonl, in their ranked order."""

    model: dict
    n_tokens: int
    candidates: int  # tokens flagged by any method (the pool), all behaviour-tested
    verified: int  # eligible tokens that behaviour verifies as glitch tokens
    verified_candidates: int
    categories: dict
    methods: dict
    agreement: dict
    behaviour: dict
    inverter: dict
    clustering: dict
    tokenizer: dict
    settings: dict
    timings: dict
    generated: str
    signature: Signature
    records: list[dict] = field(default_factory=list, repr=False)
    out_dir: Path | None = None

    SUMMARY_KEYS = ("model", "n_tokens", "candidates", "verified", "verified_candidates", "categories", "methods",
                    "agreement", "behaviour", "inverter", "clustering", "tokenizer", "settings", "timings", "generated")

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.SUMMARY_KEYS}, "signature": self.signature.to_dict()}


# --------------------------------------------------------------------------------------------------
# What the steps hand each other
# --------------------------------------------------------------------------------------------------


@dataclass
class _Vocabulary:
    """The tokenizer checks, and the categories of the rows as boolean masks."""

    checks: dict
    unused: np.ndarray  # ids of the known-unused tokens
    unused_mask: np.ndarray
    special_mask: np.ndarray  # special tokens that are not known-unused
    eligible: np.ndarray  # neither special nor known-unused: what the methods rank

    @property
    def tokens(self) -> list:
        return self.checks["tokens"]


@dataclass
class _Indicators:
    """The clustering of the embedding matrix and every ranked method's indicator."""

    labels: np.ndarray
    inertia: float
    axes: np.ndarray  # the top two principal axes (the report's projection)
    values: dict[str, np.ndarray]  # method -> indicator (low norm, distance, ...), as candidates.jsonl records it
    suspicion: dict[str, np.ndarray]  # method -> score, higher = more suspicious (the tokenizer checks too)
    magikarp: dict | None
    magikarp_reason: str | None
    reference: np.ndarray
    reference_kind: str


@dataclass
class _Flags:
    ranks: dict[str, np.ndarray]  # method -> 1-based rank among the eligible tokens
    flagged: dict[str, np.ndarray]  # method -> mask of the tokens it flags
    cut: int  # tokens each ranked method flags


@dataclass
class _Pool:
    """The behaviour-tested tokens: every method's flagged ones (the pool) and the two controls."""

    ids: set[int]
    control: np.ndarray
    unused: np.ndarray
    tested: np.ndarray
    mask: np.ndarray  # the pool
    tested_mask: np.ndarray


class _Laps:
    """Seconds each step took, for the summary's ``timings``."""

    def __init__(self):
        self.timings: dict[str, float] = {}
        self.start = self.t = time.perf_counter()

    def lap(self, name: str) -> None:
        self.timings[name] = round(time.perf_counter() - self.t, 3)
        self.t = time.perf_counter()


# --------------------------------------------------------------------------------------------------
# The steps
# --------------------------------------------------------------------------------------------------


def _check_settings(clusters, top_fraction, control, known_unused_sample, max_per_method):
    if isinstance(clusters, bool) or not isinstance(clusters, (int, np.integer)) or clusters < 2:
        raise InputError(f"--clusters must be a whole number of at least 2, not {clusters!r}")
    if isinstance(top_fraction, bool) or not isinstance(top_fraction, (int, float)) or not 0 < top_fraction <= 0.5:
        raise InputError(f"the flagged fraction must be above 0 and at most 0.5 (Magikarp uses 0.02), not {top_fraction!r}")
    for name, value in (("control", control), ("known_unused_sample", known_unused_sample),
                        ("max_per_method", max_per_method)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"{name} must be a whole number of at least 0, not {value!r}")


def _check_model(vm: VocabModel, clusters: int, control: int) -> None:
    n = len(vm.input_matrix)
    if clusters > n:
        raise InputError(f"--clusters {clusters} is more than the {n} tokens of the vocabulary")
    if vm.kind == "encoder" and control < MIN_CONTROL:
        raise InputError(f"--control must be at least {MIN_CONTROL} for an encoder: the random control tokens calibrate "
                         "what a typical token does to a sentence")


def _sample(ids: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) <= n:
        return ids
    return np.sort(rng.choice(ids, size=n, replace=False))


def _mask(n: int, ids) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    m[ids] = True
    return m


def _categorise(vm: VocabModel, n: int, reporter: Reporter) -> _Vocabulary:
    """Run the tokenizer checks and sort the rows into special, known-unused and eligible tokens."""
    reporter.start("tokenizer checks", 1)
    checks = tokenizer_checks(vm.tokenizer, n)
    reporter.advance("tokenizer checks", 1)
    unused = known_unused(checks["tokens"])
    unused_mask = _mask(n, unused)
    special_mask = _mask(n, [i for i in checks["specials"] if 0 <= i < n]) & ~unused_mask
    return _Vocabulary(checks, unused, unused_mask, special_mask, ~special_mask & ~unused_mask)


def _cluster(x: np.ndarray, clusters: int, seed: int, reporter: Reporter):
    """k-means of the rows; each row's distance to its own centre, to the centroid, and its norm."""
    reporter.start("k-means", 3)
    labels, centres, inertia = kmeans(x, clusters, seed=seed, n_init=3, progress=lambda: reporter.advance("k-means", 1))
    own = np.linalg.norm(x - centres[labels], axis=1)
    to_centroid = np.linalg.norm(x - x.mean(0), axis=1)
    return labels, inertia, {"l2_norm": np.linalg.norm(x, axis=1), "centroid_distance": to_centroid,
                             "cluster_distance": own}


def _magikarp(vm: VocabModel, voc: _Vocabulary, axes: np.ndarray, seed: int):
    """The cross-fitted Magikarp indicator on the output matrix, with the known-unused tokens as the
    reference (the unreachable ones when the vocabulary names none). Returns (result or None, why
    not, reference ids, what the reference is)."""
    x = vm.input_matrix
    n = len(x)
    out_m = vm.output_matrix if vm.output_matrix is not None else x
    same = out_m is x or (out_m.shape == x.shape and np.shares_memory(out_m, x))
    reference, reference_kind = voc.unused, "known-unused tokens"
    if len(reference) < 4:
        fallback = np.flatnonzero(voc.checks["unreachable"] & voc.eligible)
        if len(fallback) >= 4:
            reference, reference_kind = fallback, "unreachable tokens (the vocabulary names no unused tokens)"
    if len(reference) < 4:
        return None, "no known-unused (or unreachable) tokens to build the reference mean from", reference, reference_kind
    negatives = np.flatnonzero(voc.eligible & ~np.isin(np.arange(n), reference))
    result = crossfit_magikarp(out_m, reference, negatives, seed=seed, first_pc=axes[0] if same else None)
    return result, None, reference, reference_kind


def _indicators(vm: VocabModel, voc: _Vocabulary, clusters: int, seed: int, reporter: Reporter,
                laps: _Laps) -> _Indicators:
    x = vm.input_matrix
    labels, inertia, values = _cluster(x, clusters, seed, reporter)
    laps.lap("clustering")
    _, axes = principal_axes(x, 2, seed=seed)  # also the 2-D projection of the report
    magikarp, reason, reference, reference_kind = _magikarp(vm, voc, axes, seed)
    laps.lap("indicators")
    suspicion = {"l2_norm": -values["l2_norm"], "centroid_distance": -values["centroid_distance"],
                 "cluster_distance": values["cluster_distance"]}
    if magikarp is not None:
        values["magikarp"] = magikarp["indicator"]
        suspicion["magikarp"] = -magikarp["indicator"]
    suspicion["unreachable"] = voc.checks["unreachable"].astype(np.float64)
    suspicion["round_trip"] = voc.checks["round_trip_failure"].astype(np.float64)
    return _Indicators(labels, inertia, axes, values, suspicion, magikarp, reason, reference, reference_kind)


def _flag(ind: _Indicators, eligible: np.ndarray, top_fraction: float) -> _Flags:
    """Each ranked method flags its most suspicious ``top_fraction`` of the eligible tokens; each
    tokenizer check every eligible token that fails it."""
    cut = max(1, math.ceil(top_fraction * int(eligible.sum())))
    ranks, flagged = {}, {}
    for name, s in ind.suspicion.items():
        ranks[name] = suspicion_ranks(s, eligible)
        if name in RANKED_METHODS:
            flagged[name] = eligible & (ranks[name] >= 1) & (ranks[name] <= cut)
        else:
            flagged[name] = eligible & (s > 0)
    return _Flags(ranks, flagged, cut)


def _choose_tested(voc: _Vocabulary, flags: _Flags, control: int, known_unused_sample: int, max_per_method: int,
                   rng: np.random.Generator) -> _Pool:
    """Every ranked method's flagged tokens, up to ``max_per_method`` of each check's, ``control``
    random eligible tokens and ``known_unused_sample`` known-unused ones."""
    n = len(voc.eligible)
    ids: set[int] = set()
    for name, f in flags.flagged.items():
        chosen = np.flatnonzero(f)
        ids.update((chosen if name in RANKED_METHODS else _sample(chosen, max_per_method, rng)).tolist())
    control_ids = _sample(np.flatnonzero(voc.eligible), control, rng)
    exists = np.flatnonzero(np.array([tk is not None for tk in voc.tokens]))
    unused_ids = _sample(voc.unused[np.isin(voc.unused, exists)], known_unused_sample, rng)
    tested = np.array(sorted(ids | set(control_ids.tolist()) | set(unused_ids.tolist())), dtype=np.int64)
    return _Pool(ids, control_ids, unused_ids, tested, _mask(n, list(ids)), _mask(n, tested))


def _verify(vm: VocabModel, voc: _Vocabulary, pool: _Pool, reporter: Reporter, batch_size: int) -> dict[str, Any]:
    """Verification by behaviour of every tested token: carrier sentences for an encoder, repeat
    prompts for a causal LM."""
    placeholders = placeholder_candidates(voc.checks, voc.eligible)
    if vm.kind == "encoder":
        return verify_encoder(vm, pool.tested, pool.control, placeholders, reporter, batch_size)
    return verify_causal(vm, pool.tested, placeholders, reporter, batch_size=batch_size)


def _invert(vm: VocabModel, inv, behaviour: dict, pool: _Pool, reachable: np.ndarray, rng: np.random.Generator,
            limit: int, steps: int, beam: int, reporter: Reporter) -> dict[str, Any]:
    """The inverter check: invert the carrier vectors of up to ``limit`` verified reachable
    candidates and as many control tokens; a token the inverter recovers is rejected."""
    per_token = behaviour["per_token"]
    cand = [i for i in sorted(pool.ids) if per_token[i]["verdict"] == "verified" and reachable[i]]
    ctrl = [i for i in pool.control.tolist() if reachable[i]]
    chosen_c = _sample(np.array(cand, dtype=np.int64), limit, rng)
    chosen_k = _sample(np.array(ctrl, dtype=np.int64), limit, rng)
    chosen = np.array(sorted(set(chosen_c.tolist()) | set(chosen_k.tolist())), dtype=np.int64)
    found = inverter_check(vm, inv, behaviour, pool.tested, chosen, reporter, steps, beam) if len(chosen) else {}
    for i, rec in found.items():
        per_token[i]["inverter_recovered"] = rec["recovered"]
        per_token[i]["inverter_texts"] = rec["texts"]
        if rec["recovered"]:
            per_token[i]["verdict"] = "rejected"
            per_token[i]["why"] = "the inverter recovered it from a carrier sentence's vector; " + per_token[i]["why"]
        else:
            per_token[i]["why"] += "; the inverter did not recover it from any carrier"
    return {
        "used": True, "model_id": inv.model_id, "steps": steps, "beam": beam,
        "candidates_inverted": int(len(chosen_c)),
        "candidates_recovered": int(sum(found[i]["recovered"] for i in chosen_c.tolist())),
        "control_inverted": int(len(chosen_k)),
        "control_recovered": int(sum(found[i]["recovered"] for i in chosen_k.tolist())),
        "note": "Only reachable tokens are inverted (no text can hold an unreachable one); a token the "
                "inverter recovers is rejected whatever the embedding test said",
    }


def _method_entry(name: str, flags: _Flags, voc: _Vocabulary, ind: _Indicators, vm: VocabModel, tested_mask: np.ndarray,
                  verified: np.ndarray, verified_pool: np.ndarray, whole_cut: int) -> dict[str, Any]:
    """What one method flags, how much of it behaviour verifies, its precision, recall and AUC."""
    f = flags.flagged[name]
    f_tested = f & tested_mask
    entry: dict[str, Any] = {"description": METHOD_INFO[name], "kind": "ranked" if name in RANKED_METHODS else "check",
                             "flagged": int(f.sum()), "tested_of_flagged": int(f_tested.sum()),
                             "verified_of_flagged": int((f_tested & verified).sum()),
                             "flagged_unreachable": int((f & voc.checks["unreachable"]).sum())}
    entry["precision"] = (entry["verified_of_flagged"] / entry["tested_of_flagged"]) if entry["tested_of_flagged"] else None
    entry["recall"] = float((f & verified_pool).sum() / verified_pool.sum()) if verified_pool.sum() else None
    if name == "magikarp":
        entry.update(_magikarp_entry(ind, vm))
    else:
        s = ind.suspicion[name]
        entry["known_unused_auc"] = roc_auc(s[voc.unused_mask], s[voc.eligible]) if voc.unused_mask.any() else None
    if name in RANKED_METHODS:
        entry["whole_vocab_bottom"] = _whole_vocab_bottom(ind.suspicion[name], voc, verified, whole_cut)
    return entry


def _magikarp_entry(ind: _Indicators, vm: VocabModel) -> dict[str, Any]:
    mk = ind.magikarp
    entry = {"known_unused_auc": mk["auc"], "known_unused_auc_in_sample": mk["auc_in_sample"], "cross_fit": mk["folds"],
             "reference": f"{ind.reference_kind} ({len(ind.reference)})",
             "matrix": "output (unembedding) matrix" if (vm.output_matrix is not None and not vm.tied) else (
                 "input embedding matrix (tied: input = output)")}
    if ind.reference_kind != "known-unused tokens":
        entry["known_unused_auc"] = None
        entry["auc_note"] = "no known-unused tokens: the AUC is measured on the reference set instead"
        entry["reference_auc"] = mk["auc"]
    return entry


def _whole_vocab_bottom(s: np.ndarray, voc: _Vocabulary, verified: np.ndarray, whole_cut: int) -> dict[str, int]:
    """What the ``whole_cut`` most suspicious tokens of the whole vocabulary (specials and
    known-unused included) hold: the view of a method run without the eligibility filter."""
    order = np.argsort(-s, kind="stable")[:whole_cut]
    outside = order[~voc.unused_mask[order]]
    return {"size": whole_cut, "known_unused": int(voc.unused_mask[order].sum()), "outside_known_unused": int(len(outside)),
            "special": int(voc.special_mask[outside].sum()), "unreachable": int(voc.checks["unreachable"][outside].sum()),
            "verified": int(verified[outside].sum())}


def _methods(flags: _Flags, voc: _Vocabulary, ind: _Indicators, vm: VocabModel, pool: _Pool, verified: np.ndarray,
             top_fraction: float) -> dict[str, dict[str, Any]]:
    """Every method's entry of the summary, scored against the verified tokens of the pool."""
    pool_eval = (pool.mask | np.isin(np.arange(len(verified)), pool.control)) & voc.eligible
    verified_pool = verified & pool_eval
    whole_cut = max(1, math.ceil(top_fraction * len(verified)))
    methods = {name: _method_entry(name, flags, voc, ind, vm, pool.tested_mask, verified, verified_pool, whole_cut)
               for name in ind.suspicion}
    if ind.magikarp is None:
        methods["magikarp"] = {"description": METHOD_INFO["magikarp"], "kind": "ranked", "skipped": ind.magikarp_reason,
                               "precision": None, "recall": None, "known_unused_auc": None}
    return methods


def _agreement(flagged: dict[str, np.ndarray]) -> dict[str, dict[str, dict[str, Any]]]:
    """Overlap and Jaccard index of every pair of methods' flagged sets."""
    return {a: {b: {"overlap": int((flagged[a] & flagged[b]).sum()),
                    "jaccard": float((flagged[a] & flagged[b]).sum() / max((flagged[a] | flagged[b]).sum(), 1))}
                for b in flagged} for a in flagged}


def _records(voc: _Vocabulary, ind: _Indicators, flags: _Flags, pool: _Pool, per_token: dict,
             verdict: dict) -> list[dict]:
    """The rows of candidates.jsonl: every flagged, tested, known-unused or failing token, ordered by
    how many ranked methods flag it, then by its mean rank."""
    checks = voc.checks
    in_file = pool.mask | pool.tested_mask | voc.unused_mask | checks["unreachable"] | checks["round_trip_failure"]
    for f in flags.flagged.values():
        in_file |= f
    control_set = set(pool.control.tolist())
    categories = (("special", voc.special_mask), ("known_unused", voc.unused_mask), ("unreachable", checks["unreachable"]),
                  ("round_trip_failure", checks["round_trip_failure"]), ("partial_utf8", checks["partial_utf8"]))
    records = []
    for i in np.flatnonzero(in_file):
        i = int(i)
        by = [name for name in flags.flagged if flags.flagged[name][i]]
        rec = {"id": i, "token": voc.tokens[i], "text": checks["decoded"][i], "categories": [c for c, m in categories if m[i]],
               "cluster": int(ind.labels[i]),
               "indicators": {k: round(float(v[i]), 6) for k, v in ind.values.items()},
               "ranks": {k: (int(flags.ranks[k][i]) or None) for k in RANKED_METHODS if k in flags.ranks},
               "flagged_by": by,
               "role": ("known_unused" if voc.unused_mask[i] else "candidate" if pool.mask[i] else
                        "control" if i in control_set else "not_tested"),
               "control": i in control_set,
               "verdict": verdict.get(i, "untested")}
        beh = per_token.get(i)
        if beh is not None:
            rec["why"] = beh["why"]
            rec["behaviour"] = {k: v for k, v in beh.items() if k not in ("verdict", "why")}
        else:
            rec["why"] = "not behaviour-tested" + (" (sampled out of a large flagged set)" if by else "")
        records.append(rec)
    n_eligible = max(int(voc.eligible.sum()), 1)
    pct = {k: flags.ranks[k] / n_eligible for k in RANKED_METHODS if k in flags.ranks}

    def order_key(r):
        ranked = [r["ranks"][k] for k in r["ranks"] if r["ranks"][k]]
        mean_pct = float(np.mean([pct[k][r["id"]] for k in pct if flags.ranks[k][r["id"]]])) if ranked else 2.0
        return (-sum(1 for m in r["flagged_by"] if m in RANKED_METHODS), mean_pct, r["id"])

    return sorted(records, key=order_key)


def _behaviour_summary(behaviour: dict, pool: _Pool, verdict: dict, flags: _Flags, eligible: np.ndarray) -> dict:
    """Verified shares of the pool and of the two controls, and what the unflagged controls say
    about the glitch tokens every method missed."""
    def rate(ids):
        ids = [int(i) for i in ids]
        counts = {v: sum(verdict[i] == v for i in ids) for v in ("verified", "rejected", "uncertain")}
        return {"n": len(ids), **counts, "verified_rate": counts["verified"] / len(ids) if ids else None}

    flagged = flags.flagged
    unflagged_ctrl = [i for i in pool.control.tolist() if not any(flagged[m][i] for m in flagged)]
    n_missed = int(sum(verdict[i] == "verified" for i in unflagged_ctrl))
    missed_rate = (n_missed / len(unflagged_ctrl)) if unflagged_ctrl else None
    unflagged_total = int((eligible & ~np.logical_or.reduce([flagged[m] for m in flagged])).sum())
    summary = {k: v for k, v in behaviour.items() if k not in ("per_token", "vectors")}
    summary.update({
        "tested": int(len(pool.tested)),
        "candidates": rate(sorted(pool.ids)),
        "control": rate(pool.control),
        "known_unused": rate(pool.unused),
        "unflagged_control": {"n": len(unflagged_ctrl), "verified": n_missed, "verified_rate": missed_rate,
                              "unflagged_eligible_tokens": unflagged_total,
                              "estimated_verified_missed_by_all_methods":
                                  None if missed_rate is None else round(missed_rate * unflagged_total),
                              "estimated_missed_upper_95":
                                  None if missed_rate is None else
                                  round(wilson_upper(n_missed, len(unflagged_ctrl)) * unflagged_total)},
    })
    return summary


def _model_info(vm: VocabModel, voc: _Vocabulary) -> dict[str, Any]:
    return {"name": vm.name, "path": vm.path, "kind": vm.kind, "tied": vm.tied, "rows": len(vm.input_matrix),
            "dim": int(vm.input_matrix.shape[1]), "tokenizer_vocab": int(sum(tk is not None for tk in voc.tokens)),
            "notes": vm.notes}


def _clustering_info(ind: _Indicators, voc: _Vocabulary, clusters: int) -> dict[str, Any]:
    return {"k": int(clusters), "inertia": ind.inertia, "sizes": np.bincount(ind.labels, minlength=clusters).tolist(),
            "known_unused_by_cluster": np.bincount(ind.labels[voc.unused_mask], minlength=clusters).tolist()
            if voc.unused_mask.any() else [0] * clusters}


def _categories(voc: _Vocabulary, flags: _Flags, verified: np.ndarray, verdict: dict) -> dict[str, int]:
    checks, special, eligible = voc.checks, voc.special_mask, voc.eligible
    union_ranked = np.zeros(len(eligible), dtype=bool)
    for name in RANKED_METHODS:
        if name in flags.flagged:
            union_ranked |= flags.flagged[name]
    return {"special": int(special.sum()), "known_unused": int(voc.unused_mask.sum()),
            "unreachable": int((checks["unreachable"] & ~special).sum()),
            "round_trip_failure": int((checks["round_trip_failure"] & ~special).sum()),
            "partial_utf8": int(checks["partial_utf8"].sum()), "eligible": int(eligible.sum()),
            "flagged_by_a_ranked_method": int(union_ranked.sum()),
            "verified": int((verified & eligible).sum()),
            "rejected": int(sum(verdict[i] == "rejected" for i in verdict if eligible[i])),
            "uncertain": int(sum(verdict[i] == "uncertain" for i in verdict if eligible[i]))}


def _signature(vm: VocabModel, voc: _Vocabulary, settings: dict, behaviour: dict, inverter: dict,
               inverter_limit: int) -> Signature:
    """How the audit was computed: the model and a digest of its weights and vocabulary, the
    settings, the behaviour test's thresholds, and the inverter when one was used."""
    fields: dict[str, Any] = {
        "model": vm.name, "kind": vm.kind, "weights": vm.weights_digest(),
        "vocab": text_digest(["" if t is None else t for t in voc.tokens]), "n": len(voc.tokens),
        "clusters": settings["clusters"], "top": settings["top_fraction"], "control": settings["control"],
        "known_unused_sample": settings["known_unused_sample"], "max_per_method": settings["max_per_method"],
        "seed": settings["seed"]}
    thresholds = (("verify_below", "reject_above", "new_tokens") if behaviour["kind"] == "repeat_prompts" else
                  ("collision_fraction", "collision_crowd", "inert_fraction"))
    fields.update({k: behaviour[k] for k in thresholds})
    if inverter["used"]:
        fields.update({"inverter": inverter["model_id"], "inverter_steps": inverter["steps"],
                       "inverter_beam": inverter["beam"], "inverter_limit": inverter_limit})
    return Signature(fields, metrics=dict(METRICS), kind="glitch")


def _write(out_dir: Path, audit: GlitchAudit, vm: VocabModel, voc: _Vocabulary, ind: _Indicators, flags: _Flags,
           pool: _Pool, verified: np.ndarray, laps: _Laps) -> None:
    """candidates.jsonl, report.html and summary.json, each written atomically (summary.json last)."""
    x = vm.input_matrix
    xy = (x.astype(np.float64) - x.mean(0)) @ ind.axes.T
    t = time.perf_counter()
    atomic_write(out_dir / "candidates.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in audit.records))
    thresholds = {}
    for name, values in ind.values.items():
        at = np.flatnonzero(flags.ranks[name] == flags.cut)
        thresholds[name] = float(values[at[0]]) if len(at) else None
    arrays = {"xy": xy, "labels": ind.labels, "unused": voc.unused_mask, "verified": verified & voc.eligible,
              "pool": pool.mask, "eligible": voc.eligible, "indicators": ind.values, "thresholds": thresholds}
    atomic_write(out_dir / "report.html", render_report(audit.to_dict(), audit.records, arrays))
    laps.timings["write"] = round(time.perf_counter() - t, 3)
    laps.timings["total"] = round(time.perf_counter() - laps.start, 3)
    write_json(out_dir / "summary.json", audit.to_dict())


# --------------------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------------------


def audit_vocabulary(
    model: Any,
    out_dir: str | Path,
    clusters: int = 20,
    inverter: Any = None,
    top_fraction: float = TOP_FRACTION,
    control: int = 200,
    known_unused_sample: int = 200,
    max_per_method: int = 1000,
    seed: int = 0,
    inverter_limit: int = 32,
    inverter_steps: int = 4,
    inverter_beam: int = 1,
    batch_size: int = 128,
    reporter: Reporter | None = None,
) -> GlitchAudit:
    """Audit a vocabulary for glitch (under-trained) tokens; writes ``candidates.jsonl``,
    ``summary.json`` and ``report.html`` into ``out_dir`` (each atomically) and returns the
    :class:`GlitchAudit` (``to_dict()`` is summary.json).

    ``model``: ``"minilm"``, a loaded embedder, or a local Hugging Face encoder / causal-LM folder (or
    a :class:`VocabModel`). Each ranked method flags its most suspicious ``top_fraction`` of the
    eligible tokens (not special, not known-unused); the tokenizer checks flag every token that fails
    them (``max_per_method`` of those are behaviour-tested). Behaviour also tests ``control`` random
    eligible tokens (negative control and an estimate of what every method missed) and
    ``known_unused_sample`` known-unused tokens (positive control). ``inverter`` (encoders only): an
    inverter folder, a shipped name, or an :class:`~unembed.inverter.Inverter`; with one, the carrier
    vectors of up to ``inverter_limit`` verified candidates and as many control tokens are inverted,
    and a token the inverter recovers is rejected.
    """
    laps = _Laps()
    _check_settings(clusters, top_fraction, control, known_unused_sample, max_per_method)
    reporter = reporter or LogReporter()
    out_dir = Path(out_dir)
    vm = model if isinstance(model, VocabModel) else load_vocab_model(model)
    laps.lap("load")
    inv, inverter_reason = resolve_inverter(inverter, vm)
    _check_model(vm, clusters, control)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(vm.input_matrix)

    voc = _categorise(vm, n, reporter)
    laps.lap("tokenizer_checks")
    ind = _indicators(vm, voc, clusters, seed, reporter, laps)
    flags = _flag(ind, voc.eligible, top_fraction)

    rng = np.random.default_rng(seed)
    pool = _choose_tested(voc, flags, control, known_unused_sample, max_per_method, rng)
    behaviour = _verify(vm, voc, pool, reporter, batch_size)
    laps.lap("behaviour")
    inverter_summary: dict[str, Any] = {"used": False, "reason": inverter_reason}
    if inv is not None:
        inverter_summary = _invert(vm, inv, behaviour, pool, voc.checks["reachable"], rng, inverter_limit,
                                   inverter_steps, inverter_beam, reporter)
        laps.lap("inverter")

    per_token = behaviour["per_token"]
    verdict = {i: per_token[i]["verdict"] for i in per_token}
    verified = _mask(n, [i for i, v in verdict.items() if v == "verified"])
    settings = {"clusters": int(clusters), "top_fraction": top_fraction, "flagged_per_ranked_method": flags.cut,
                "control": int(control), "known_unused_sample": int(known_unused_sample),
                "max_per_method": int(max_per_method), "seed": int(seed), "evaluation": EVALUATION}
    behaviour_summary = _behaviour_summary(behaviour, pool, verdict, flags, voc.eligible)
    audit = GlitchAudit(
        model=_model_info(vm, voc),
        n_tokens=n,
        candidates=int(pool.mask.sum()),
        verified=int((verified & voc.eligible).sum()),
        verified_candidates=int((verified & pool.mask).sum()),
        categories=_categories(voc, flags, verified, verdict),
        methods=_methods(flags, voc, ind, vm, pool, verified, top_fraction),
        agreement=_agreement(flags.flagged),
        behaviour=behaviour_summary,
        inverter=inverter_summary,
        clustering=_clustering_info(ind, voc, clusters),
        tokenizer={"anchors": voc.checks["anchors"], "special_tokens": sorted(int(i) for i in voc.checks["specials"])},
        settings=settings,
        timings=laps.timings,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        signature=_signature(vm, voc, settings, behaviour_summary, inverter_summary, inverter_limit),
        records=_records(voc, ind, flags, pool, per_token, verdict),
        out_dir=out_dir,
    )
    _write(out_dir, audit, vm, voc, ind, flags, pool, verified, laps)
    return audit
