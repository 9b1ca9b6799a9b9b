"""An attacker who knows the store's domain: k-fold domain adaptation of the inverter (``--adapt``).

A realistic attacker holds text like the store's own. The audit estimates that risk without ever
letting a model see the text it is scored on:

- the store's records fall into ``k`` folds by a seeded hash of their id;
- for each fold ``j``, the inverter is fine-tuned with the public
  :func:`unembed.inversion.training.finetune` on stored documents of the other ``k - 1`` folds
  (a seeded sample of the store, ``texts`` at most, with their *stored* vectors, so the attacker
  also learns the store's own lossy codes or scaling), any text equal to a document of fold ``j``
  removed; the fine-tuned inverter then inverts the audited records of fold ``j``;
- with ``corpus`` (``--adapt-corpus FILE``: public text of the same domain, for a store that
  holds no documents) one inverter is fine-tuned on that text and inverts every audited record.

The adapted results go to ``adapted.jsonl`` (same records as results.jsonl), the fine-tuned models
to ``adapt/fold-J`` (both resumable). Under torchrun / accelerate each fold's fine-tune runs on
every process (data parallel, as ``unembed train`` does) and the held-out records are inverted in
chunks shared out by rank, then merged by position as the stock results are.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import shards
from .sampling import Selection, id_keys

log = logging.getLogger(__name__)

__all__ = ["AdaptConfig", "run_adaptation", "adapted_summary", "fold_of", "ADAPTED", "TYPICAL_TIME"]

ADAPTED = "adapted.jsonl"
#: said by the command line's help (measured on the 2-core CPU of BENCHMARKS.md, shipped inverter)
TYPICAL_TIME = ("typically a minute or two a fold on a 2-core CPU with the defaults, 3 folds, plus inverting the "
                "sample again; estimated from the fine-tune's speed (a fifth of the compute of finetune()'s own "
                "defaults, a few minutes), not timed with these defaults")


@dataclass
class AdaptConfig:
    """CPU-sized defaults: a few minutes a fold on a 2-core machine."""

    folds: int = 3
    texts: int = 600  # documents (or corpus texts) each fold's inverter is fine-tuned on
    hypothesizer_steps: int = 120
    corrector_steps: int = 40
    batch_size: int = 16
    lr: float = 1e-4
    corpus: str | None = None  # --adapt-corpus FILE: public text of the domain, instead of the store's documents
    mixed_precision: str = "auto"

    def check(self) -> None:
        for name in ("folds", "texts", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (2 if name == "folds" else 1):
                raise InputError(f"--adapt-{name.replace('_', '-')} must be an integer >= "
                                 f"{2 if name == 'folds' else 1}, not {v!r}")
        for name in ("hypothesizer_steps", "corrector_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InputError(f"--adapt-{name.replace('_', '-')} must be an integer >= 0, not {v!r}")


def fold_of(ids, folds: int, seed: int) -> np.ndarray:
    """The fold of each record id (a seeded hash, independent of the sample's)."""
    return (id_keys(ids, seed + 7919) % np.uint64(folds)).astype(np.int64)


def _pool(job, cfg: AdaptConfig) -> list[tuple[str, str, np.ndarray]]:
    """(id, document, stored vector) of a seeded sample of the store's records with documents."""
    want = min(job.universe, int(np.ceil(cfg.texts * cfg.folds / (cfg.folds - 1))) + 64)
    sel = Selection(job.reader, job.universe, want, job.seed + 1, job.batch_size, job.read_batch)
    out = []
    for _, items in sel.chunks():
        for it in items:
            if isinstance(it.document, str) and it.document.strip():
                out.append((it.id, it.document, np.asarray(it.vector, np.float32)))
    return out


def _corpus_texts(cfg: AdaptConfig, seed: int) -> list[str]:
    from ..corpus import read_texts
    from ..inversion.evaluate import sample

    texts = list(dict.fromkeys(t for t in read_texts(cfg.corpus) if t.strip()))
    if not texts:
        raise InputError(f"--adapt-corpus {cfg.corpus} holds no texts")
    return sample(texts, cfg.texts, seed)


def _finetune(job, cfg: AdaptConfig, texts: list[str], vectors, name: str):
    from ..inversion.training import FinetuneConfig, finetune

    inv = job.inverter
    ft = FinetuneConfig(out=str(job.out / "adapt" / name), hypothesizer_steps=cfg.hypothesizer_steps,
                        corrector_steps=cfg.corrector_steps if inv.corrector is not None else 0,
                        batch_size=cfg.batch_size, lr=cfg.lr, seed=job.seed, mixed_precision=cfg.mixed_precision,
                        corrector_examples=min(len(texts), max(1, cfg.corrector_steps) * cfg.batch_size))
    adapted = finetune(inv, texts, vectors, config=ft, label=f"audit-adapt:{name}")
    adapted.use_embedder(job.embedder)
    adapted.precision = inv.precision
    return adapted


def run_adaptation(job, cfg: AdaptConfig) -> None:
    """Fine-tune per fold, invert each fold's audited records, merge into ``adapted.jsonl``."""
    cfg.check()
    ctx = job.ctx
    out = Path(job.out)
    dest = out / ADAPTED
    done = shards.read_ids(dest) if ctx.main else set()
    for f in shards.shard_files(out, "adapted"):
        done |= shards.read_ids(f, truncate=ctx.main)
    done = ctx.broadcast(done)
    ctx.barrier()
    rescale = bool((job.fit or {}).get("rescale"))
    if cfg.corpus:
        texts = _corpus_texts(cfg, job.seed)
        plans = [("corpus", texts, None, None)]
    else:
        pool = _pool(job, cfg)
        if not pool:
            raise InputError("the store holds no documents to adapt the inverter on: pass --adapt-corpus FILE "
                             "(public text of the same domain)")
        pool_folds = fold_of([p[0] for p in pool], cfg.folds, job.seed)
        plans = [(f"fold-{j}", None, pool, j) for j in range(cfg.folds)]
    sink_path = shards.shard_path(out, ctx.rank, ctx.world, "adapted")
    sink_path.parent.mkdir(parents=True, exist_ok=True)
    with open(sink_path, "a", encoding="utf-8") as sink:
        for name, texts, pool, j in plans:
            # this fold's audited records, in chunks of the audit's batch size
            held = []
            for _, items in job.selection.chunks():
                for it in items:
                    if j is None or fold_of([it.id], cfg.folds, job.seed)[0] == j:
                        held.append(it)
            todo = [it for it in held if it.id not in done]
            if not todo:
                continue
            if texts is None:  # documents of the other folds, none equal to a held-out document
                held_docs = {it.document for it in held if it.document}
                keep = [k for k, p in enumerate(pool) if pool_folds[k] != j and p[1] not in held_docs][: cfg.texts]
                if not keep:
                    raise InputError(f"no stored documents outside fold {j} to adapt on: pass --adapt-corpus FILE")
                texts = [pool[k][1] for k in keep]
                vectors = np.stack([pool[k][2] for k in keep])
                if rescale:
                    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            else:
                vectors = None
            log.info("adapting the inverter on %d texts (%s)", len(texts), name)
            adapted = _finetune(job, cfg, texts, vectors, name)
            chunks = [todo[i:i + job.batch_size] for i in range(0, len(todo), job.batch_size)]
            for c, chunk in enumerate(chunks):
                if c % ctx.world == ctx.rank:
                    job._process(chunk, sink, rescale, inverter=adapted)
    ctx.barrier()
    if ctx.main:
        shards.merge([dest, *shards.shard_files(out, "adapted")], dest)
        shards.remove_shards(out, "adapted")
    ctx.barrier()


def adapted_summary(job) -> dict | None:
    """Stock against adapted leakage over the records both attackers inverted."""
    from .aggregate import Tally, read_records

    cfg: AdaptConfig = job.adapt
    dest = Path(job.out) / ADAPTED
    if not dest.exists():
        return {"status": "not run", "how": _how(cfg)}
    ad = Tally(seed=job.seed).extend(read_records(dest))
    ids = {str(r["id"]) for r in read_records(dest)}
    st = Tally(seed=job.seed).extend(r for r in read_records(job.results_path) if str(r["id"]) in ids)

    def side(t) -> dict:
        s = t.summary()
        figs = t.intervals(job.universe, job.selection.random, seed=job.seed).get("figures") or {}
        s["intervals"] = {k: {"low": v.get("low"), "high": v.get("high")} for k, v in figs.items()
                          if isinstance(v, dict) and "low" in v}
        return s

    status = "complete" if ad.n >= job.selected else f"{ad.n} of {job.selected} records"
    return {"status": status, "how": _how(cfg), "settings": asdict(cfg), "stock": side(st), "adapted": side(ad)}


def _how(cfg: AdaptConfig) -> str:
    steps = f"{cfg.hypothesizer_steps} hypothesizer and {cfg.corrector_steps} corrector steps of batch {cfg.batch_size}"
    if cfg.corpus:
        return (f"The inverter was fine-tuned ({steps}) on up to {cfg.texts} texts of {Path(cfg.corpus).name}, public "
                "text of the store's domain, and inverted every audited record again.")
    return (f"{cfg.folds}-fold adaptation: for each fold of the store's records (a seeded hash of the id), the inverter "
            f"was fine-tuned ({steps}) on up to {cfg.texts} stored documents of the other folds, with their stored "
            "vectors, and inverted that fold's audited records; no model saw a text it was scored on.")
