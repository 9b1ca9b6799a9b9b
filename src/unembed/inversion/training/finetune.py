"""The public fine-tune: adapt an existing inverter to new texts, or to vectors seen through a defence.

``finetune(inverter, texts)`` continues both models of ``inverter`` on ``texts`` with the training
pipeline's own loop and stages (resumable in ``out``), and returns the adapted inverter. It is what
``unembed train --from`` runs on a corpus, what the adaptive attacker of ``unembed defend`` runs on
defended vectors, and what domain adaptation of an audit runs on a store's documents.

- ``vectors``: what the attacker sees for each text (default: the inverter's embedder's vectors).
  For a defence, the defended vectors: the hypothesizer learns to read them.
- ``embedder``: how the attacker re-embeds hypotheses for the corrector and the beam (default: the
  inverter's). For a public deterministic defence, the embedder seen through the defence, so that
  candidates are ranked in the defended space.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import InputError
from ...reporting import Reporter
from ...vectors import check_vectors
from ..inverter import Inverter
from .config import TrainConfig
from .pipeline import TrainData, Trainer

__all__ = ["FinetuneConfig", "finetune"]


@dataclass
class FinetuneConfig:
    """The settings of a fine-tune; CPU-sized defaults (a few minutes on a 2-core machine)."""

    out: str
    hypothesizer_steps: int = 300
    corrector_steps: int = 100
    batch_size: int = 32
    lr: float = 1e-4
    warmup_steps: int | None = None  # default: a tenth of the longer stage
    corrector_examples: int = 0  # texts given a hypothesis (0: hypothesizer_steps's worth, at most all)
    corrector_rounds: int = 1
    corrupt_fraction: float = 0.0
    validation: int = 0  # texts held back to report validation metrics (0: none)
    eval_every: int = 0
    seed: int = 0
    mixed_precision: str = "auto"
    export_dtype: str = "float32"
    max_tokens: int | None = None  # default: the inverter's


def finetune(inverter: Inverter, texts: Sequence[str], vectors=None, *, config: FinetuneConfig,
             embedder=None, reporter: Reporter | None = None, label: str = "finetune") -> Inverter:
    """``inverter`` fine-tuned on ``texts`` (and the ``vectors`` an attacker sees for them).

    Resumable: a second call with the same ``config.out`` and settings continues or reloads the run.
    ``label`` names the data in the run's config (its identity on resume)."""
    texts = [str(t) for t in texts]
    if not texts:
        raise InputError("no texts to fine-tune on")
    view = embedder if embedder is not None else inverter.embedder
    x = check_vectors(view.embed(texts) if vectors is None else vectors, inverter.dim, what="fine-tune vectors")
    if len(x) != len(texts):
        raise InputError(f"{len(texts)} texts but {len(x)} vectors: give one vector per text")
    c = config
    n_val = min(c.validation, max(0, len(texts) - 1))
    val_texts, val_x = texts[:n_val], x[:n_val]
    tr_texts, tr_x = texts[n_val:], np.ascontiguousarray(x[n_val:])
    steps = max(c.hypothesizer_steps, c.corrector_steps)
    examples = c.corrector_examples or min(len(tr_texts), max(1, c.corrector_steps) * c.batch_size)
    cfg = TrainConfig(
        out=str(Path(c.out)), embedder=view.name, corpus=label, max_tokens=c.max_tokens or inverter.max_tokens,
        seed=c.seed, start_from=inverter.model_id, batch_size=c.batch_size, lr=c.lr, lr_pretrained=c.lr,
        warmup_steps=c.warmup_steps if c.warmup_steps is not None else max(1, steps // 10),
        hypothesizer_steps=c.hypothesizer_steps, corrector_steps=c.corrector_steps if inverter.corrector else 0,
        corrector_examples=examples, corrector_rounds=c.corrector_rounds, corrupt_fraction=c.corrupt_fraction,
        n_validation=n_val, n_test=0, eval_every=c.eval_every, eval_size=max(1, n_val),
        save_every=max(1, min(200, steps)), mixed_precision=c.mixed_precision, export_dtype=c.export_dtype,
    )
    data = TrainData(tr_texts, tr_x, val_texts, val_x)
    trainer = Trainer(cfg, resume=True, reporter=reporter, embedder=view, start=inverter, data=data,
                      keep_fingerprint=embedder is None)
    return trainer.run()
