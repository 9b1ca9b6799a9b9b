"""Clustering and weight indicators of the token-embedding matrix, and the statistics that score them.

k-means (the clustering analyses), principal axes, the distances to the centroid and to a token's
own cluster centre, the Magikarp indicator with its cross-fitted AUC (Land & Bartolo 2024), the ROC
AUC, the Wilson bound, and suspicion ranks. The methods an audit compares are named here too.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..errors import InputError

__all__ = ["TOP_FRACTION", "METHOD_INFO", "RANKED_METHODS", "BINARY_METHODS", "kmeans", "principal_axes",
           "without_first_pc", "cosine_distance_to_mean", "roc_auc", "crossfit_magikarp", "wilson_upper",
           "suspicion_ranks"]

TOP_FRACTION = 0.02  # Magikarp: verify the lowest 2% of an indicator

METHOD_INFO = {
    "l2_norm": "low L2 norm of the input-embedding row (Land & Bartolo 2024)",
    "centroid_distance": "close to the centroid of all token embeddings (Rumbelow & Watkins 2023)",
    "cluster_distance": "far from the centre of its own k-means cluster (clustering analyses; GlitchHunter)",
    "magikarp": "cosine distance to the mean known-unused row, first principal component removed "
                "(Land & Bartolo 2024); cross-fitted on known-unused tokens",
    "unreachable": "tokenizer check: no probe string encodes to the token",
    "round_trip": "tokenizer check: reachable, but does not survive decode -> encode (alone or after an anchor word)",
}
RANKED_METHODS = ("l2_norm", "centroid_distance", "cluster_distance", "magikarp")
BINARY_METHODS = ("unreachable", "round_trip")


def _to_centre(x: np.ndarray, sq: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared distance of every row of ``x`` (squared norms ``sq``) to one centre ``c``."""
    return np.maximum(sq - 2 * (x @ c) + float(c @ c), 0)


def _to_centres(x: np.ndarray, sq: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared distances (rows, k) of every row of ``x`` to every centre."""
    return np.maximum(sq[:, None] - 2 * (x @ centres.T) + np.einsum("ij,ij->i", centres, centres)[None], 0)


def _kmeans_pp(x: np.ndarray, sq: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each next centre drawn with probability proportional to its squared distance."""
    n = len(x)
    centres = np.empty((k, x.shape[1]), dtype=np.float32)
    centres[0] = x[rng.integers(n)]
    d2 = _to_centre(x, sq, centres[0])
    for j in range(1, k):
        total = d2.sum()
        pick = rng.integers(n) if total <= 0 else rng.choice(n, p=d2 / total)
        centres[j] = x[pick]
        d2 = np.minimum(d2, _to_centre(x, sq, centres[j]))
    return centres


def _assign(x: np.ndarray, sq: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(squared distances, labels, inertia) of ``x`` against ``centres``."""
    dist = _to_centres(x, sq, centres)
    labels = dist.argmin(1)
    return dist, labels, float(dist[np.arange(len(x)), labels].sum())


def kmeans(x: np.ndarray, k: int, seed: int = 0, n_init: int = 3, max_iter: int = 100, tol: float = 1e-6,
           progress: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii 2007); the best of ``n_init``
    runs by inertia. Returns (labels, centres, inertia)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= n:
        raise InputError(f"clusters must be a whole number from 2 to {n} (the vocabulary size), not {k!r}")
    rng = np.random.default_rng(seed)
    sq = np.einsum("ij,ij->i", x, x).astype(np.float64)
    best = None
    for _ in range(n_init):
        centres = _kmeans_pp(x, sq, k, rng)
        prev = math.inf
        for _it in range(max_iter):
            dist, labels, inertia = _assign(x, sq, centres)
            for j in range(k):
                members = labels == j
                if members.any():
                    centres[j] = x[members].mean(0)
                else:  # an empty cluster restarts at the point worst served
                    far = int(dist[np.arange(n), labels].argmax())
                    centres[j] = x[far]
                    labels[far] = j
            if prev - inertia <= tol * max(prev, 1e-12):
                break
            prev = inertia
        _, labels, inertia = _assign(x, sq, centres)
        if best is None or inertia < best[2]:
            best = (labels.copy(), centres.copy(), inertia)
        if progress:
            progress()
    return best


def principal_axes(m: np.ndarray, k: int = 2, iterations: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top ``k`` principal axes (rows, by explained variance) of the rows of ``m``.

    Orthogonal (subspace) iteration on the covariance with a few extra vectors, then Rayleigh-Ritz:
    a handful of small matrix products, where a full eigendecomposition stalls on a busy CPU."""
    m64 = m.astype(np.float64)
    mean = m64.mean(0)
    centred = m64 - mean
    cov = centred.T @ centred / max(len(m) - 1, 1)
    d = cov.shape[0]
    q = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, min(d, k + 6))))[0]
    before = None
    for it in range(iterations):
        q = np.linalg.qr(cov @ q)[0]
        if it % 10 == 9:  # stop once the top Ritz values no longer move
            ritz = np.sort(np.linalg.eigvalsh(q.T @ cov @ q))[::-1][:k]
            if before is not None and np.all(np.abs(ritz - before) <= 1e-12 * max(abs(ritz[0]), 1e-30)):
                break
            before = ritz
    values, vectors = np.linalg.eigh(q.T @ cov @ q)
    axes = (q @ vectors[:, ::-1][:, :k]).T
    return mean, axes / np.linalg.norm(axes, axis=1, keepdims=True)


def without_first_pc(m: np.ndarray, axis: np.ndarray | None = None) -> np.ndarray:
    """``m`` with its first principal component projected out of every row (as Magikarp does: the
    axis is fitted on the centred rows and removed from the uncentred ones)."""
    p = principal_axes(m, 1)[1][0] if axis is None else np.asarray(axis, dtype=np.float64)
    m64 = m.astype(np.float64)
    return m64 - np.outer(m64 @ p, p)


def cosine_distance_to_mean(m: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine distance of every row of ``m`` to the mean of the rows ``reference``."""
    mean = m[reference].mean(0)
    norms = np.linalg.norm(m, axis=1) * np.linalg.norm(mean)
    return 1.0 - (m @ mean) / np.maximum(norms, 1e-12)


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    """Area under the ROC curve for "higher score = positive" (Mann-Whitney U; ties count half)."""
    positive = np.asarray(positive, dtype=np.float64)
    negative = np.asarray(negative, dtype=np.float64)
    if len(positive) == 0 or len(negative) == 0:
        return None
    scores = np.concatenate([positive, negative])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0  # 1-based average rank of each group of ties
    ranks[order] = np.repeat(average, counts)
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def crossfit_magikarp(m: np.ndarray, reference: np.ndarray, negatives: np.ndarray, seed: int = 0,
                      first_pc: np.ndarray | None = None) -> dict[str, Any]:
    """The Magikarp indicator with a cross-fitted AUC on the reference (known-unused) tokens.

    The reference set is split in two seeded halves A and B. The indicator built from A's mean scores
    B's tokens and the negatives, and vice versa; the AUC is the mean of the two folds, so no token is
    ever scored by a mean it helped to build. Returns the per-token indicator (cosine distance; low =
    suspicious): out-of-fold for reference tokens, built from all reference tokens for the others.
    ``auc_in_sample`` (every reference token scored by a mean that includes it) is circular and is
    returned only to show how much it flatters the indicator. ``first_pc``: ``m``'s first principal
    axis when already known.
    """
    reference = np.asarray(reference, dtype=np.int64)
    reduced = without_first_pc(m, first_pc)
    full = cosine_distance_to_mean(reduced, reference)
    result: dict[str, Any] = {"indicator": full, "auc": None, "auc_in_sample": None, "folds": []}
    if len(reference) < 4:
        result["reason"] = f"only {len(reference)} reference tokens: cross-fitting needs at least 4"
        return result
    result["auc_in_sample"] = roc_auc(-full[reference], -full[negatives])
    perm = np.random.default_rng(seed).permutation(reference)
    halves = (np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2:]))
    indicator = full.copy()
    aucs = []
    for fit, held in ((halves[0], halves[1]), (halves[1], halves[0])):
        score = cosine_distance_to_mean(reduced, fit)
        indicator[held] = score[held]
        auc = roc_auc(-score[held], -score[negatives])
        aucs.append(auc)
        result["folds"].append({"fit": int(len(fit)), "held_out": int(len(held)), "auc": auc})
    result["indicator"] = indicator
    result["auc"] = float(np.mean(aucs))
    return result


def wilson_upper(k: int, n: int, z: float = 1.96) -> float:
    """Upper end of the Wilson score interval for a proportion of ``k`` in ``n`` (95% by default)."""
    if n <= 0:
        return 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def suspicion_ranks(suspicion: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """1-based rank of every token of ``pool`` by suspicion (1 = most suspicious; ties by id); 0 outside."""
    ranks = np.zeros(len(suspicion), dtype=np.int64)
    ids = np.flatnonzero(pool)
    order = ids[np.lexsort((ids, -suspicion[ids]))]
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks
