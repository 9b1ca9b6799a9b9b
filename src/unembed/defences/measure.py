"""What each defence costs in retrieval and what it buys against inversion, measured in one run.

For every defence (``transforms``), on the same texts and the same retrieval set:

- **utility**: recall@10 and NDCG@10 of retrieval with defended vectors (``retrieval``);
- **leakage, non-adaptive attacker**: the inverter trained on clean vectors inverts the defended ones;
- **leakage, adaptive attacker** (``attacks``): for noise, quantisation, PCA and LDP, the clean
  inverter fine-tuned on defended vectors of training-corpus texts; for rotation and masking, whose
  seed is secret, the least-squares map fitted on k leaked (text, stored vector) pairs, for each k in
  ``leaked_pairs``. The strongest attack run (highest BLEU) is "adaptive".

Leakage is BLEU, token F1 and exact match (``metrics.score``, after the embedder's own lowercasing
when it is uncased) and the cosine between the recovered text's embedding and the *clean* embedding
of the original. The decision (``decision``): the cheapest defence whose highest BLEU under every
attacker run stays below the threshold, and the Pareto front over (NDCG@10, that leakage).

Outputs in ``out``: ``results.jsonl`` (one record per defence, streamed; ``resume`` skips those
done with the same settings), ``results.json`` (everything, with the signature and the
recommendation), ``utility_leakage.png`` and a self-contained ``report.html`` (``report``).

The retrieval functions, the least-squares map and the decision are importable from here too.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..inversion.evaluate import sample
from ..io import atomic_write
from ..metrics import METRIC_SETTINGS, cosine_rows, score
from ..reporting import LogReporter, Reporter
from ..signature import Signature, text_digest
from .attacks import fine_tuned_attacker, least_squares_map, least_squares_view
from .config import DEFAULT_DEFENCES, DefendConfig
from .decision import decision_leakage, pareto_front, recommend
from .report import render_report, utility_leakage_figure
from .results import LEAK_KEYS, DefenceResult, DefendResult
from .retrieval import RetrievalSet, retrieval_scores, retrieval_set
from .transforms import FINETUNE, LEAST_SQUARES, Defence, parse_list, relative_error

__all__ = ["DEFAULT_DEFENCES", "DefendConfig", "Defender", "DefenceResult", "DefendResult", "defend",
           "RetrievalSet", "retrieval_set", "retrieval_scores", "least_squares_map", "decision_leakage",
           "pareto_front", "recommend", "render_report", "utility_leakage_figure"]

class Defender:
    """One ``defend`` run: texts, retrieval set, and every defence measured on them.

    :meth:`run` does everything; :meth:`prepare` (the texts, the training pool, the retrieval set and
    their vectors), :meth:`measure` (one defence) and :meth:`adaptive_attacker` are its steps."""

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

    def _choose_texts(self) -> str:
        """Sets ``texts`` (to invert) and ``pool`` (training texts for fitting and attackers); returns
        the corpus name."""
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
        return corpus_name

    def prepare(self) -> None:
        """Choose the texts to invert and the training pool, build the retrieval set, and embed them
        all (cached in ``out``): sets ``texts``, ``pool``, ``rs`` and their vectors ``x``, ``pool_x``,
        ``q_x``, ``p_x``. :meth:`run` calls it first."""
        cfg = self.cfg
        self._choose_texts()
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

    def adaptive_attacker(self, defence: Defence):
        """The adaptive attacker for ``defence`` (after :meth:`prepare`): the clean inverter fine-tuned on
        defended vectors of the training pool (``attacks.fine_tuned_attacker``), ranking candidates in
        the defended space where the defence is a public deterministic transform. Returns
        ``(attacker, work folder, label)``; the clean inverter is left untouched."""
        return fine_tuned_attacker(self.inv, defence, self.pool, self.pool_x, self.cfg, self.embedder, self.reporter)

    def _fine_tuned_attacks(self, defence: Defence, y: np.ndarray) -> tuple[list[dict], dict[str, list[str]]]:
        self.reporter.note(f"{defence.spec}: fine-tuning the attacker on defended vectors")
        attacker, work, label = self.adaptive_attacker(defence)
        m, preds = self._leakage(attacker, y, "invert (adaptive)")
        if not self.cfg.keep_adaptive:
            shutil.rmtree(work, ignore_errors=True)
        return [{"attack": label, "kind": "fine-tune", **m}], {label: preds}

    def _least_squares_attacks(self, defence: Defence, y: np.ndarray) -> tuple[list[dict], dict[str, list[str]]]:
        attacks, preds_by_attack = [], {}
        normalize = bool(getattr(self.embedder, "normalize", False))
        for k_used in sorted({min(k, len(self.pool)) for k in self.cfg.leaked_pairs}):
            mapped = least_squares_view(defence, y, self.pool_x[:k_used], normalize)
            label = f"least-squares map from {k_used} leaked pairs, clean inverter"
            m, preds = self._leakage(self.inv, mapped, f"invert (adaptive, k={k_used})")
            attacks.append({"attack": label, "kind": f"least squares, k={k_used}", "leaked_pairs": k_used,
                            "map_cosine": float(cosine_rows(mapped, self.x).mean()), **m})
            preds_by_attack[label] = preds
        return attacks, preds_by_attack

    def _adaptive(self, defence: Defence, y: np.ndarray, non_adaptive: dict, na_preds: list[str]):
        """Every adaptive attack run on ``defence``, the strongest one, and its recovered texts."""
        attacks: list[dict] = []
        preds_by_attack: dict[str, list[str]] = {}
        if defence.attack == FINETUNE and self.cfg.adaptive_steps > 0:
            attacks, preds_by_attack = self._fine_tuned_attacks(defence, y)
        elif defence.attack == LEAST_SQUARES:
            attacks, preds_by_attack = self._least_squares_attacks(defence, y)
        if attacks:
            best = max(attacks, key=lambda a: a["bleu"])
            return attacks, dict(best), preds_by_attack[best["attack"]]
        if defence.family == "none":
            return [], {**non_adaptive, "attack": "none needed: the vectors are undefended", "kind": "none"}, na_preds
        not_run = {**{k: None for k in LEAK_KEYS}, "attack": "not run", "kind": "not run"}
        return [], not_run, [None] * len(self.texts)

    # -- one defence -----------------------------------------------------------------------------
    def measure(self, defence: Defence) -> DefenceResult:
        """Utility and leakage of one defence (after :meth:`prepare`; fitted here if it needs it)."""
        t0 = time.perf_counter()
        if defence.needs_fit and not defence.fitted:
            defence.fit(self.pool_x[: self.cfg.fit_texts])
        utility = retrieval_scores(defence.queries(self.q_x), defence(self.p_x), self.rs.relevant)
        y = defence(self.x)
        non_adaptive, na_preds = self._leakage(self.inv, y, "invert (non-adaptive)")
        attacks, adaptive, ad_preds = self._adaptive(defence, y, non_adaptive, na_preds)
        return DefenceResult(
            defence=defence.spec, family=defence.family, strength=defence.strength, description=defence.describe(),
            recall_at_10=utility["recall_at_10"], ndcg_at_10=utility["ndcg_at_10"],
            leakage={"non_adaptive": non_adaptive, "adaptive": adaptive}, attacks=attacks,
            distortion=relative_error(self.x, y), details=defence.details(),
            examples=[{"original": t, "non_adaptive": a, "adaptive": b}
                      for t, a, b in list(zip(self.texts, na_preds, ad_preds))[:3]],
            seconds=time.perf_counter() - t0)

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

    def _resumed(self, sig: dict) -> dict[str, DefenceResult]:
        """The defences results.jsonl already holds with these settings (resume), by spec."""
        done: dict[str, DefenceResult] = {}
        if not (self.cfg.resume and self.results_path.exists()):
            return done
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
            done[rec["defence"]] = DefenceResult.from_dict(rec)
        if done:
            self.reporter.note(f"resuming: {len(done)} defences already measured with these settings")
        return done

    def run(self) -> DefendResult:
        """Measure every defence (resuming those done), decide, and write ``out``; returns the result."""
        self.prepare()
        for d in self.defences:  # fit first: a parameter that does not fit the data fails before any work
            if d.needs_fit:
                d.fit(self.pool_x[: self.cfg.fit_texts])
        signature = self.signature()
        sig = signature.to_dict()
        done = self._resumed(sig)
        kept = [done[d.spec] for d in self.defences if d.spec in done]
        with open(self.results_path, "w") as f:  # drop a cut line, keep what is reused
            f.writelines(json.dumps(r.to_dict()) + "\n" for r in kept)
        results = []
        self.reporter.start("defences", len(self.defences), len(kept))
        for d in self.defences:
            if d.spec in done:
                results.append(done[d.spec])
                continue
            res = self.measure(d)
            res.signature = signature
            results.append(res)
            with open(self.results_path, "a") as f:
                f.write(json.dumps(res.to_dict()) + "\n")
            na, ad = res.leakage["non_adaptive"], res.leakage["adaptive"]
            self.reporter.note(f"{d.spec}: NDCG@10 {res.ndcg_at_10:.3f}, recall@10 {res.recall_at_10:.3f}; "
                               f"BLEU non-adaptive {na['bleu']:.1f}, adaptive "
                               + ("n/a" if ad["bleu"] is None else f"{ad['bleu']:.1f}"))
            self.reporter.advance("defences", 1)
        return self.finish(results, signature)

    def finish(self, results: list[DefenceResult], signature: Signature) -> DefendResult:
        """Decide (recommendation, Pareto front) and write results.json, the plot and the report."""
        records = [r.to_dict() for r in results]
        recommendation = recommend(records, self.cfg.threshold)
        for r, record in zip(results, records):
            r.decide(record)
        base = next(r for r in results if r.family == "none")
        retrieval = dict(self.rs.info, undefended={"recall_at_10": base.recall_at_10, "ndcg_at_10": base.ndcg_at_10})
        settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.cfg).items()}
        out = DefendResult(signature, self.cfg.threshold, recommendation, retrieval, settings, results)
        as_json = out.to_dict()
        fig = utility_leakage_figure(as_json["defences"], self.cfg.threshold)
        fig.savefig(self.out / "utility_leakage.png", format="png", dpi=110, bbox_inches="tight")
        (self.out / "report.html").write_text(render_report(as_json, fig), encoding="utf-8")
        atomic_write(self.out / "results.json", json.dumps(as_json, indent=2))
        return out


def defend(inverter, cfg: DefendConfig, reporter: Reporter | None = None, **kwargs) -> DefendResult:
    """Measure every defence in ``cfg`` with ``inverter``; returns (and writes to ``cfg.out``) the results."""
    return Defender(inverter, cfg, reporter, **kwargs).run()
