"""What to do about it: the defences that would cut this store's measured leakage, and their cost.

On the store's own data, for every defence of ``defences`` (the transforms of ``unembed defend``,
:mod:`unembed.defences`), after the audit:

- **leakage**: the stored vectors of the first ``records`` audited records with documents go
  through the defence and the audit's inverter inverts them (``steps``, ``beam``); scored against
  the stored documents as the audit scores (BLEU, token F1, exact match, sensitive items). For the
  keyed defences (rotation, masking) the attacker of ``unembed defend`` who holds ``leaked_pairs``
  (text, stored vector) pairs of *other* records fits the least-squares map back and inverts
  through it; the other defences are measured against the stock inverter only (the adaptive,
  fine-tuned attacker of ``unembed defend`` costs minutes a defence: run ``unembed defend`` for it);
- **cost in retrieval**: queries drawn from the store's documents, a document's first sentence
  (or, for a one-sentence document of at least six words, its first half) against the rest;
  passages are every document's rest; recall@10 and NDCG@10 of cosine retrieval, with defended
  passage vectors and the queries as the defence treats them (``retrieval_scores``);
- the fitted defences (PQ, PCA) are fitted on a seeded sample of the store's vectors;
- the recommendation is ``unembed defend``'s: the cheapest defence (highest NDCG@10) whose
  highest BLEU under every attacker run stays below ``threshold``.

Written to ``advice.json``; the report ends with it.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_write
from .sampling import Selection

__all__ = ["AdviceConfig", "run_advice", "split_query", "ADVICE", "DEFAULT_ADVICE_DEFENCES"]

ADVICE = "advice.json"
DEFAULT_ADVICE_DEFENCES = "noise:0.01,noise:0.05,noise:0.1,int8,pq:16x8,pca:64,rotate:7"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass
class AdviceConfig:
    defences: str = DEFAULT_ADVICE_DEFENCES
    records: int = 32  # audited records whose defended vectors are inverted
    queries: int = 300  # store documents split into (first sentence, rest) for retrieval
    fit_vectors: int = 1000  # store vectors the fitted defences are fitted on (and the leaked pairs come from)
    leaked_pairs: int = 100
    steps: int = 5
    beam: int = 2
    threshold: float = 10.0


def split_query(document: str) -> tuple[str, str] | None:
    """(first sentence, rest) of a document, or (first half, second half) of a one-sentence one of at
    least six words; None when it cannot be split."""
    doc = " ".join(document.split())
    parts = _SENTENCE.split(doc, maxsplit=1)
    if len(parts) == 2 and parts[0].strip() and parts[1].strip():
        return parts[0].strip(), parts[1].strip()
    words = doc.split()
    if len(words) >= 6:
        h = len(words) // 2
        return " ".join(words[:h]), " ".join(words[h:])
    return None


def _draw(job, n: int, salt: int):
    sel = Selection(job.reader, job.universe, min(n, job.universe), job.seed + salt, 256, job.read_batch)
    ids, docs, vecs = [], [], []
    for _, items in sel.chunks():
        for it in items:
            ids.append(it.id)
            docs.append(it.document if isinstance(it.document, str) and it.document.strip() else None)
            vecs.append(np.asarray(it.vector, np.float32))
    return ids, docs, np.stack(vecs) if vecs else np.zeros((0, job.inverter.dim), np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def run_advice(job, cfg: AdviceConfig) -> dict:
    """Measure every defence on the store's data; writes and returns advice.json's content."""
    from ..defences import parse_list
    from ..defences.attacks import least_squares_view
    from ..defences.decision import recommend
    from ..defences.retrieval import retrieval_scores
    from ..defences.transforms import LEAST_SQUARES
    from .audit import score_record

    t0 = time.perf_counter()
    out_path = Path(job.out) / ADVICE
    rescale = bool((job.fit or {}).get("rescale"))
    # the audited records to defend: the first ones with documents
    rec_ids, rec_docs, rec_x = [], [], []
    for _, items in job.selection.chunks():
        for it in items:
            if isinstance(it.document, str) and it.document.strip() and len(rec_ids) < cfg.records:
                rec_ids.append(it.id)
                rec_docs.append(it.document)
                rec_x.append(np.asarray(it.vector, np.float32))
        if len(rec_ids) >= cfg.records:
            break
    if not rec_ids:
        result = {"skipped": "The store holds no documents, so what a defence would cut cannot be measured here: "
                             "run unembed defend on text of the store's domain."}
        atomic_write(out_path, json.dumps(result, indent=2))
        return result
    x = np.stack(rec_x)
    if rescale:
        x = _unit(x)
    held = set(rec_ids)
    f_ids, f_docs, f_x = _draw(job, cfg.fit_vectors, salt=2)
    if rescale and len(f_x):
        f_x = _unit(f_x)
    others = [k for k, i in enumerate(f_ids) if i not in held]
    fit_x = f_x[others] if others else f_x
    leak_x = fit_x[: cfg.leaked_pairs]
    # retrieval: first sentence against the rest, over the store's documents
    pairs = [p for p in (split_query(d) for d in f_docs if d) if p][: cfg.queries]
    embedder = job.embedder
    if len(pairs) >= 10:
        q_x = embedder.embed([p[0] for p in pairs])
        p_x = embedder.embed([p[1] for p in pairs])
        relevant = [[i] for i in range(len(pairs))]
    else:
        q_x = p_x = relevant = None
    normalize = bool(getattr(embedder, "normalize", False))
    defences = parse_list(cfg.defences)
    if not any(d.family == "none" for d in defences):
        defences.insert(0, parse_list("none")[0])

    def leakage(vectors) -> dict:
        res = job.inverter.invert(vectors, steps=cfg.steps, beam=cfg.beam, batch_size=job.batch_size)
        scores = [score_record(r.text, d, job.normalize) for r, d in zip(res, rec_docs)]
        items = [it for s in scores for it in s["sensitive"]]
        return {"bleu": float(np.mean([s["bleu"] for s in scores])),
                "token_f1": float(np.mean([s["token_f1"] for s in scores])),
                "exact_match": 100.0 * float(np.mean([s["exact_match"] for s in scores])),
                "sensitive": [sum(bool(it["recovered"]) for it in items), len(items)],
                "example": {"original": rec_docs[0], "recovered": res[0].text}}

    records = []
    for d in defences:
        entry = {"defence": d.spec, "family": d.family, "description": d.describe()}
        try:
            if d.needs_fit:
                d.fit(fit_x)
            if q_x is not None:
                u = retrieval_scores(d.queries(q_x), d(p_x), relevant)
            else:
                u = {"recall_at_10": float("nan"), "ndcg_at_10": float("nan")}
            y = d(x)
            na = leakage(y)
            attacks = []
            attacker = "stock inverter on the defended vectors"
            if d.attack == LEAST_SQUARES and len(leak_x):
                mapped = least_squares_view(d, y, leak_x, normalize)
                ls = leakage(mapped)
                attacks.append({"attack": f"least-squares map from {len(leak_x)} leaked pairs", **ls})
                attacker = f"least-squares map from {len(leak_x)} leaked (text, vector) pairs of other records"
            adaptive = dict(attacks[0]) if attacks else (dict(na) if d.family == "none" else
                                                          {"bleu": None, "attack": "not run"})
        except (InputError, ValueError, RuntimeError) as exc:
            entry["error"] = " ".join(str(exc).split())[:300]
            records.append(entry)
            continue
        best = max([na] + attacks, key=lambda a: a["bleu"])
        entry.update(recall_at_10=u["recall_at_10"], ndcg_at_10=u["ndcg_at_10"], attacks=attacks,
                     leakage={"non_adaptive": na, "adaptive": adaptive}, attacker=attacker,
                     sensitive_recovered=best["sensitive"])
        records.append(entry)
    measured = [r for r in records if "error" not in r]
    if q_x is None:
        for r in measured:
            r["ndcg_at_10"] = r["recall_at_10"] = 0.0
    rec = recommend(measured, cfg.threshold) if measured else {"text": "no defence could be measured"}
    base = next((r for r in measured if r["family"] == "none"), None)
    for r in measured:
        r["ndcg_cost"] = (base["ndcg_at_10"] - r["ndcg_at_10"]) if base else None
    how = (f"Each defence applied to the stored vectors of {len(rec_ids)} audited records with documents, inverted "
           f"by the audit's inverter ({cfg.steps} steps, beam {cfg.beam}) and scored against the stored documents; "
           f"keyed defences also against a least-squares attacker holding {len(leak_x)} leaked pairs of other records. "
           + (f"Retrieval cost: {len(pairs)} queries from the store's documents (first sentence, or first half, against "
              "the rest), recall@10 and NDCG@10 with cosine similarity. " if q_x is not None else
              "Retrieval cost not measured: fewer than 10 documents could be split into a query and the rest. ")
           + f"Fitted defences fitted on {len(fit_x)} stored vectors. The fine-tuned adaptive attacker of unembed "
             "defend was not run here (minutes a defence): the leakage of noise, quantisation and PCA is a lower bound.")
    result = {"how": how, "recommendation": rec, "defences": records, "settings": asdict(cfg),
              "records": len(rec_ids), "queries": len(pairs) if q_x is not None else 0,
              "seconds": time.perf_counter() - t0}
    atomic_write(out_path, json.dumps(result, indent=2, ensure_ascii=False))
    return result
