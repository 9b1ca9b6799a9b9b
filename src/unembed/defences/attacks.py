"""The attackers a defence is measured against, beyond the clean inverter (the non-adaptive one).

- **least squares** (rotation, masking: keyed defences whose seed is secret): an attacker who holds
  k leaked (text, stored vector) pairs fits the map from stored to clean vectors, ``W = Y^+ X``
  (minimum-norm solution; the ALGEN attack, 2025), and inverts ``Y W`` with the clean inverter;
- **fine-tuned** (noise, quantisation, PCA, LDP): the clean inverter's hypothesizer (then its
  corrector) fine-tuned on defended vectors of training-corpus texts with the public
  :func:`unembed.inversion.training.finetune`; it re-ranks its candidates in the defended space
  (:func:`view_embedder`) when the defence is a public deterministic transform.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..reporting import Relabel, Reporter
from ..signature import text_digest
from .transforms import Defence

if TYPE_CHECKING:  # pragma: no cover
    from .measure import DefendConfig

__all__ = ["least_squares_map", "least_squares_view", "view_embedder", "fine_tuned_attacker", "slug"]


def least_squares_map(defended: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """``W`` minimising ``||defended @ W - clean||``: the minimum-norm solution ``pinv(defended) @ clean``
    (exact for a rotation once there are at least d independent pairs)."""
    w, *_ = np.linalg.lstsq(np.asarray(defended, np.float64), np.asarray(clean, np.float64), rcond=None)
    return w


def least_squares_view(defence: Defence, stored: np.ndarray, leaked_clean: np.ndarray, normalize: bool) -> np.ndarray:
    """The ``stored`` (defended) vectors mapped back to the clean space with the map fitted on the
    leaked pairs ``(defence(leaked_clean), leaked_clean)``; rescaled to unit norm when the embedder
    normalises its vectors."""
    w = least_squares_map(defence(leaked_clean), leaked_clean)
    mapped = stored.astype(np.float64) @ w
    if normalize:
        mapped /= np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)
    return mapped.astype(np.float32)


def slug(spec: str) -> str:
    """A defence spec as a file-name part (``pq:16x8`` -> ``pq_16x8``)."""
    return re.sub(r"[^\w.-]+", "_", spec)


def view_embedder(embedder, defence: Defence, probe: np.ndarray):
    """The embedder as the adaptive attacker uses it: clean re-embeddings mapped into the defended
    space; ``embedder`` itself when the attacker's view of ``probe`` is the identity."""
    from ..embedders import CallableEmbedder

    if np.allclose(defence.attacker_view(probe), probe, atol=1e-6):
        return embedder
    return CallableEmbedder(lambda texts: defence.attacker_view(embedder.embed(texts)),
                            name=f"{embedder.name} seen through {defence.spec}", cased=embedder.cased,
                            normalize=False)


def fine_tuned_attacker(inverter, defence: Defence, pool: list[str], pool_x: np.ndarray, cfg: "DefendConfig",
                        embedder, reporter: Reporter):
    """The adaptive attacker for ``defence``: ``inverter`` fine-tuned on defended vectors of the
    first ``cfg.adaptive_texts`` texts of ``pool`` (clean vectors ``pool_x``), in
    ``cfg.out/adaptive/<spec>-<key>``. Returns ``(attacker, work folder, label)``; ``inverter`` is
    left untouched."""
    from ..inversion.training import FinetuneConfig, finetune

    n = min(cfg.adaptive_texts, len(pool))
    texts = pool[:n]
    y = defence(pool_x[:n])  # one defended copy (fresh noise for random defences)
    view = view_embedder(embedder, defence, pool_x[:4])
    key = hashlib.sha256(json.dumps([inverter.model_id, defence.spec, text_digest(texts), cfg.adaptive_steps,
                                     cfg.adaptive_corrector_steps, cfg.adaptive_batch_size, cfg.adaptive_lr,
                                     cfg.seed]).encode()).hexdigest()[:10]
    work = Path(cfg.out) / "adaptive" / f"{slug(defence.spec)}-{key}"
    if work.exists() and not cfg.resume:
        shutil.rmtree(work)
    hyp_steps = cfg.adaptive_steps
    cor_steps = cfg.adaptive_corrector_steps if inverter.corrector is not None else 0
    ft = FinetuneConfig(out=str(work), hypothesizer_steps=hyp_steps, corrector_steps=cor_steps,
                        batch_size=cfg.adaptive_batch_size, lr=cfg.adaptive_lr, seed=cfg.seed,
                        mixed_precision=cfg.mixed_precision,
                        corrector_examples=min(n, max(1, cor_steps) * cfg.adaptive_batch_size))
    stages = Relabel(reporter, {"hypothesizer": "fine-tune hypothesizer", "corrector": "fine-tune corrector"})
    attacker = finetune(inverter, texts, y, config=ft, embedder=None if view is embedder else view,
                        reporter=stages, label=f"defended:{defence.spec}")
    if view is embedder:
        attacker.use_embedder(embedder)
    attacker.precision = inverter.precision
    attacker.source = f"{Path(inverter.source).name if inverter.source else 'inverter'}+adaptive-{slug(defence.spec)}"
    label = (f"fine-tuned on {n} defended vectors: hypothesizer {hyp_steps} steps, "
             + (f"corrector {cor_steps} steps" if cor_steps else "clean corrector")
             + ("; ranks candidates in the defended space" if view is not embedder else ""))
    return attacker, work, label
