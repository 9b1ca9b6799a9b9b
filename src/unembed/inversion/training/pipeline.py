"""The training pipeline: corpus to inverter folder, every stage resumable.

One call of :meth:`Trainer.run` runs every stage in order, each of which skips itself when its output
already exists, so an interrupted run continues where it stopped (``resume=True``):

1. corpus        seeded train / validation / test splits (``unembed.corpus.load_corpus``), or texts
                 and vectors handed over directly (:class:`TrainData`, as :func:`finetune` does)
2. embeddings    the embedder's vectors of every training and validation text, in chunks
3. hypothesizer  embedding -> text (Morris et al. 2023, the "zero-step" model)
4. corrector data  round 0: the hypothesizer's own greedy hypotheses of training texts, re-embedded;
                 plus, optionally, corrupted copies of targets (a cheap source of near-miss hypotheses)
5. corrector     (target e, hypothesis ê, e - ê, hypothesis tokens) -> the target text; initialised
                 from the trained hypothesizer, which already writes text from pseudo-tokens (or, when
                 continuing an inverter, from its own corrector)
6. later rounds  with ``corrector_rounds`` R > 1: the corrector's own corrections of the previous
                 round's hypotheses, re-embedded, join the data and the corrector trains on. This is
                 a deliberate difference from the reference, whose corrector only ever sees round-0
                 hypotheses and so learns nothing about the texts it will itself be asked to correct
                 from step 2 on (a reason its beam reaches a fixed point early).
7. export        the inverter folder (``Inverter.save``)

Data preparation runs on the main process first; the others then read what it wrote.
"""
from __future__ import annotations

import copy
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ...errors import CheckpointError, InputError
from ...io import read_json, write_json
from ...reporting import Reporter
from ..inverter import Inverter, load_inverter
from ..models import Corrector, CorrectorConfig, Hypothesizer, HypothesizerConfig, TransformerConfig, load_bert_weights
from ..precision import resolve_training_precision
from ..tokenization import Codec
from .config import PRESETS, TrainConfig, check_model_size
from .loop import Fitter, LoopSettings, accelerator

__all__ = ["Trainer", "TrainData", "train", "corrupt", "model_configs", "preset_transformer", "warm_start_state"]


@dataclass
class TrainData:
    """Texts and the vectors an attacker sees for them, handed to a run instead of a corpus."""

    train_texts: list[str]
    train_vectors: np.ndarray
    validation_texts: list[str]
    validation_vectors: np.ndarray


def preset_transformer(model: str, vocab_size: int, dropout: float, codec: Codec) -> tuple[TransformerConfig, int]:
    """The transformer of model size ``model`` (a PRESETS name) over ``codec``'s special tokens, and
    the number of pseudo-tokens the size gives the embedding projection."""
    check_model_size(model)
    p = dict(PRESETS[model])
    k = p.pop("n_pseudo_tokens")
    return TransformerConfig(vocab_size=vocab_size, max_positions=512, dropout=dropout, pad_id=codec.pad_id,
                             bos_id=codec.bos_id, eos_id=codec.eos_id, **p), k


def model_configs(cfg: TrainConfig, embedding_dim: int, vocab_size: int, codec: Codec):
    t, k = preset_transformer(cfg.model, vocab_size, cfg.dropout, codec)
    return (HypothesizerConfig(embedding_dim, k, t), CorrectorConfig(embedding_dim, k, TransformerConfig(**asdict(t))))


def warm_start_state(cfg: TrainConfig) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    src = cfg.init_from
    if src is None:
        from ...embedders import minilm_path

        src = str(minilm_path())
    path = Path(src)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.exists():
        raise CheckpointError(f"warm-start weights {path} not found: give a BERT model folder or safetensors file, or use --init random")
    return load_file(str(path))


def corrupt(text: str, rng: np.random.Generator) -> str:
    """A near-miss copy of ``text``: a few words dropped, duplicated or swapped."""
    words = text.split()
    if len(words) < 3:
        return text + " " + text.split()[0] if words else text
    for _ in range(max(1, int(rng.integers(1, 1 + len(words) // 6 + 1)))):
        op = rng.integers(3)
        j = int(rng.integers(len(words)))
        if op == 0 and len(words) > 2:
            del words[j]
        elif op == 1:
            words.insert(j, words[int(rng.integers(len(words)))])
        else:
            k = min(j + 1, len(words) - 1)
            words[j], words[k] = words[k], words[j]
    return " ".join(words)



class Trainer:
    """One training run in ``cfg.out``. ``start`` (an Inverter) continues that inverter, as
    ``cfg.start_from`` does by name; ``data`` replaces the corpus and embedding stages."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, reporter: Reporter | None = None,
                 embedder=None, stop_after: int | None = None, start: Inverter | None = None,
                 data: TrainData | None = None, keep_fingerprint: bool = True):
        cfg.check()
        self.cfg, self.out = cfg, Path(cfg.out)
        self.precision = resolve_training_precision(cfg.mixed_precision)
        self._export_dtype()  # an unknown export dtype fails now, not after training
        self.acc = accelerator(self.precision)
        self.precision = self.acc.mixed_precision
        self.fitter = Fitter(self.acc, self.out, LoopSettings(
            batch_size=cfg.batch_size, lr=cfg.lr, lr_pretrained=cfg.lr_pretrained, weight_decay=cfg.weight_decay,
            warmup_steps=cfg.warmup_steps, eval_every=cfg.eval_every, save_every=cfg.save_every, seed=cfg.seed),
            reporter, stop_after, self.precision)
        self.reporter = self.fitter.reporter
        self.data = data
        if start is None and cfg.start_from is not None:
            start = load_inverter(cfg.start_from, device="cpu", precision="fp32")
        self.start = start
        if embedder is None:
            if start is not None and cfg.embedder == start.fingerprint.get("name"):
                embedder = start.embedder  # loaded and checked against its fingerprint
            else:
                from ...embedders import load_embedder

                embedder = load_embedder(cfg.embedder)
        self.embedder = embedder
        # Continuing an inverter keeps its embedder (checked); a fine-tune for vectors seen through a
        # defence (keep_fingerprint=False) is an inverter for that view, with the view's fingerprint.
        self.keep_fingerprint = start is not None and keep_fingerprint
        if self.keep_fingerprint:
            from ...embedders import check_fingerprint

            check_fingerprint(start.fingerprint, embedder)
        self.codec = start.codec if start is not None else Codec.default()
        self._prepare_folder(resume)

    @property
    def steps_this_run(self) -> int:
        return self.fitter.steps_this_run

    def _prepare_folder(self, resume: bool) -> None:
        cfg_file = self.out / "train_config.json"
        if cfg_file.exists():
            saved = read_json(cfg_file)
            if not resume:
                raise InputError(f"{self.out} already holds a training run: pass --resume to continue it, or choose another --out")
            if saved != asdict(self.cfg):
                diff = sorted(k for k in set(saved) | set(asdict(self.cfg)) if saved.get(k) != asdict(self.cfg).get(k))
                raise InputError(f"cannot resume {self.out}: options differ from the saved run ({', '.join(diff)})")
        elif self.acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            write_json(cfg_file, asdict(self.cfg))
        self.acc.wait_for_everyone()

    # stage 1 + 2 ------------------------------------------------------------------------------
    def corpus(self):
        from ...corpus import load_corpus

        return load_corpus(self.cfg.corpus, self.out / "corpus", max_tokens=self.cfg.max_tokens, seed=self.cfg.seed,
                           n_validation=self.cfg.n_validation, n_test=self.cfg.n_test,
                           count_tokens=lambda t: len(self.codec.ids([t])[0]))

    def embeddings(self, name: str, texts: list[str], chunk: int = 2048) -> np.ndarray:
        """Embed ``texts`` in chunks saved as they finish; a rerun embeds only the missing chunks."""
        folder = self.out / "embeddings"
        final = folder / f"{name}.npy"
        if final.exists():
            arr = np.load(final)
            if arr.shape == (len(texts), self.embedder.dim):
                return arr
        folder.mkdir(parents=True, exist_ok=True)
        n_chunks = math.ceil(len(texts) / chunk)
        done = [i for i in range(n_chunks) if (folder / f"{name}.part{i:05d}.npy").exists()]
        self.reporter.start(f"embed {name}", len(texts), min(len(texts), len(done) * chunk))
        for i in range(n_chunks):
            part = folder / f"{name}.part{i:05d}.npy"
            if part.exists():
                continue
            vecs = self.embedder.embed(texts[i * chunk:(i + 1) * chunk])
            _save_npy(part, vecs)
            self.reporter.advance(f"embed {name}", len(vecs))
        arr = np.concatenate([np.load(folder / f"{name}.part{i:05d}.npy") for i in range(n_chunks)]).astype(np.float32)
        _save_npy(final, arr)
        for i in range(n_chunks):
            (folder / f"{name}.part{i:05d}.npy").unlink()
        return arr

    def _evaluator(self, hyp, cor, texts: list[str], vecs: np.ndarray, steps: int) -> Callable[[], dict]:
        from ...metrics import score

        def evaluate() -> dict:
            inv = self.inverter(hyp, cor)
            res = inv.invert(vecs, steps=steps, beam=1)
            m = score([r.text for r in res], texts, normalize=self.embedder.normalize_text,
                      cosines=[r.cosine for r in res])
            hyp.train()
            if cor is not None:
                cor.train()
            return {"val_bleu": m["bleu"], "val_token_f1": m["token_f1"], "val_exact": m["exact_match"], "val_cosine": m["cosine"]}
        return evaluate

    def inverter(self, hyp, cor) -> Inverter:
        fingerprint = self.start.fingerprint if self.keep_fingerprint else self.embedder.fingerprint()
        return Inverter(self.acc.unwrap_model(hyp), None if cor is None else self.acc.unwrap_model(cor), self.codec,
                        fingerprint, self.cfg.max_tokens, self.info(), embedder=self.embedder,
                        device=str(self.acc.device))

    def info(self) -> dict:
        info = {"train_config": asdict(self.cfg), "precision": self.precision}
        if self.start is not None:
            info["started_from"] = {"model": self.start.model_id, "info": self.start.info}
        for stage in ("hypothesizer", "corrector", *(f"corrector-round{r}" for r in range(1, self.cfg.corrector_rounds))):
            f = self.out / "checkpoints" / stage / "done.json"
            if f.exists():
                info[stage] = read_json(f)
        return info

    # the models -------------------------------------------------------------------------------
    def _hypothesizer(self) -> tuple[Hypothesizer, set[str]]:
        """The hypothesizer to train and the names of its pretrained parameters."""
        cfg = self.cfg
        torch.manual_seed(cfg.seed)  # initialisation is part of the reproducible state
        if self.start is not None:
            hyp = copy.deepcopy(self.start.hypothesizer).float().cpu()
            return hyp, {n for n, _ in hyp.named_parameters()}
        hcfg, _ = model_configs(cfg, self.embedder.dim, self.codec.vocab_size, self.codec)
        hyp = Hypothesizer(hcfg)
        pretrained: set[str] = set()
        if cfg.init == "bert":
            try:
                loaded = load_bert_weights(hyp.seq2seq, warm_start_state(cfg))
            except ValueError as exc:
                raise InputError(f"model '{cfg.model}' cannot warm-start from BERT weights ({exc}): use --init random "
                                 "or a model size whose width matches the checkpoint") from None
            pretrained = {f"seq2seq.{n}" for n in loaded}
        return hyp, pretrained

    def _corrector(self, hyp: Hypothesizer) -> tuple[Corrector, set[str]]:
        """The corrector to train: the started inverter's own, else initialised from ``hyp``."""
        cfg = self.cfg
        torch.manual_seed(cfg.seed + 1)
        plain = self.acc.unwrap_model(hyp)
        if self.start is not None and self.start.corrector is not None:
            cor = copy.deepcopy(self.start.corrector).float().cpu()
            pretrained = {n for n, _ in cor.named_parameters()}
        else:
            _, ccfg = (model_configs(cfg, self.embedder.dim, self.codec.vocab_size, self.codec) if self.start is None
                       else (None, CorrectorConfig(plain.cfg.embedding_dim, plain.cfg.n_pseudo_tokens,
                                                   TransformerConfig(**asdict(plain.cfg.transformer)))))
            cor = Corrector(ccfg)
            # Warm-start from the trained hypothesizer: same transformer, target projection included.
            cor.seq2seq.load_state_dict(plain.seq2seq.state_dict())
            cor.project_target.load_state_dict(plain.project.state_dict())
            pretrained = {n for n, _ in cor.named_parameters() if n.startswith(("seq2seq.", "project_target."))}
        if cfg.corrector_freeze_embeddings:
            # The corrector reads the hypothesizer's token embeddings, frozen: saved once on export.
            with torch.no_grad():
                cor.seq2seq.tok.weight.copy_(plain.seq2seq.tok.weight)
            cor.seq2seq.tok.weight.requires_grad_(False)
        return cor, pretrained

    # the whole pipeline -----------------------------------------------------------------------
    def _data(self) -> TrainData:
        if self.data is not None:
            return self.data
        with self.acc.main_process_first():  # the main process builds, the others then read
            corpus = self.corpus()
            train = corpus.train
            if 0 < self.cfg.train_texts < len(train):
                sample_seed = self.cfg.seed if self.cfg.sample_seed is None else self.cfg.sample_seed
                keep = np.sort(np.random.default_rng([sample_seed, 5]).permutation(len(train))[:self.cfg.train_texts])
                train = [train[i] for i in keep]
            train_vecs = self.embeddings("train", train)
            val_vecs = self.embeddings("validation", corpus.validation)
        self.reporter.note(f"corpus: {len(train)} of {len(corpus.train)} train, {len(corpus.validation)} validation, "
                           f"{len(corpus.test)} test texts")
        return TrainData(train, train_vecs, corpus.validation, val_vecs)

    def run(self) -> Inverter:
        cfg = self.cfg
        data = self._data()
        train_texts, train_vecs = data.train_texts, data.train_vectors
        k = min(cfg.eval_size, len(data.validation_texts))
        ev_texts, ev_vecs = data.validation_texts[:k], data.validation_vectors[:k]
        can_eval = k > 0 and cfg.eval_every > 0

        hyp, pretrained = self._hypothesizer()

        def hyp_batch(idx: np.ndarray) -> dict:
            texts = [train_texts[i] for i in idx]
            return {"e": torch.from_numpy(train_vecs[idx]), "labels": self.codec.labels(texts, cfg.max_tokens)}

        self.fitter.fit("hypothesizer", hyp, pretrained, cfg.hypothesizer_steps, hyp_batch, len(train_texts),
                        self._evaluator(hyp, None, ev_texts, ev_vecs, 0) if can_eval else dict)
        self.fitter.restore("hypothesizer", hyp)
        if self.acc.is_main_process:
            self.inverter(hyp, None).save(self.out, self._export_dtype())  # usable already, steps=0
        self.acc.wait_for_everyone()
        if cfg.corrector_steps <= 0:
            if self.start is not None and self.start.corrector is not None and self.acc.is_main_process:
                # only the hypothesizer was continued: the inverter keeps its corrector
                self.inverter(hyp, copy.deepcopy(self.start.corrector)).save(self.out, self._export_dtype())
            self.acc.wait_for_everyone()
            return Inverter.load(self.out, embedder=self.embedder)

        hyp.eval()
        cor, pretrained = self._corrector(hyp)
        rounds = cfg.corrector_rounds
        per_round = [cfg.corrector_steps // rounds + (1 if r < cfg.corrector_steps % rounds else 0) for r in range(rounds)]
        for r in range(rounds):
            # every process generates its share of the chunks, then all read them all
            targets, hyps, hyp_vecs, tgt_vecs = self.corrector_data(hyp, cor, train_texts, train_vecs, r)

            def cor_batch(idx: np.ndarray) -> dict:
                ids, mask = self.codec.inputs([hyps[i] for i in idx], cfg.max_tokens + 8)
                return {"e": torch.from_numpy(tgt_vecs[idx]), "e_hat": torch.from_numpy(hyp_vecs[idx]),
                        "hyp_ids": ids, "hyp_mask": mask, "labels": self.codec.labels([targets[i] for i in idx], cfg.max_tokens)}

            stage = "corrector" if r == 0 else f"corrector-round{r}"
            self.fitter.fit(stage, cor, pretrained, per_round[r], cor_batch, len(targets),
                            self._evaluator(hyp, cor, ev_texts, ev_vecs, 1) if can_eval else dict)
            self.fitter.restore(stage, cor)
        if self.acc.is_main_process:
            self.inverter(hyp, cor).save(self.out, self._export_dtype())
        self.acc.wait_for_everyone()
        return Inverter.load(self.out, embedder=self.embedder)

    def _export_dtype(self):
        choices = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16, "int8": "int8"}
        if self.cfg.export_dtype not in choices:
            raise InputError(f"unknown export dtype '{self.cfg.export_dtype}': use {', '.join(choices)}")
        return choices[self.cfg.export_dtype]

    def corrector_data(self, hyp, cor, train_texts, train_vecs, round_: int = 0, chunk: int = 1024):
        """The corrector's examples up to ``round_``, generated in resumable chunks.

        Round 0: the hypothesizer's greedy hypotheses of training texts; round r > 0: the corrector's
        greedy correction of round r - 1's hypothesis. Each hypothesis is embedded once. Corrupted
        copies of targets join round 0. With several processes, chunk ``i`` is generated by process
        ``i % P`` (in every round, so a chunk's rounds stay on one process) and every process waits
        for the others before reading them all: the slow part of training on a big corpus shared out,
        with the chunks a single process would write."""
        cfg = self.cfg
        folder = self.out / "corrector_data"
        folder.mkdir(parents=True, exist_ok=True)
        n = len(train_texts) if cfg.corrector_examples <= 0 else min(cfg.corrector_examples, len(train_texts))
        order = np.random.default_rng([cfg.seed, 7]).permutation(len(train_texts))[:n]
        n_chunks = math.ceil(n / chunk)
        batch = 512 if self.acc.device.type == "cuda" else 64
        for r in range(round_ + 1):
            inv = self.inverter(hyp, cor if r > 0 else None)
            label = "corrector data" if r == 0 else f"corrector data, round {r}"
            self.reporter.start(label, n, sum(min(chunk, n - i * chunk) for i in range(n_chunks)
                                              if (folder / f"round{r}.part{i:05d}.npz").exists()))
            for i in range(n_chunks):
                part = folder / f"round{r}.part{i:05d}.npz"
                if part.exists() or i % self.acc.num_processes != self.acc.process_index:
                    continue
                idx = order[i * chunk:(i + 1) * chunk]
                if r == 0:
                    texts = inv.hypotheses(train_vecs[idx], batch_size=batch)
                else:
                    with np.load(folder / f"round{r - 1}.part{i:05d}.npz", allow_pickle=False) as z:
                        prev, prev_vecs = [str(t) for t in z["texts"]], z["vectors"]
                    texts = inv.corrections(train_vecs[idx], prev, prev_vecs, batch_size=batch)
                vecs = self.embedder.embed(texts)
                _save_npz(part, idx=idx, texts=np.array(texts, dtype=str), vectors=vecs)
                self.reporter.advance(label, len(idx))
            self.acc.wait_for_everyone()  # every chunk of this round is written
        targets, hyps, hvecs, tvecs = [], [], [], []
        for r in range(round_ + 1):
            for i in range(n_chunks):
                with np.load(folder / f"round{r}.part{i:05d}.npz", allow_pickle=False) as z:
                    targets += [train_texts[j] for j in z["idx"]]
                    hyps += [str(t) for t in z["texts"]]
                    hvecs.append(z["vectors"])
                    tvecs.append(train_vecs[z["idx"]])
        n_corrupt = int(round(cfg.corrupt_fraction * n))
        if n_corrupt:
            part = folder / "corrupt.npz"
            if not part.exists() and self.acc.is_main_process:
                rng = np.random.default_rng([cfg.seed, 11])
                idx = rng.choice(len(train_texts), n_corrupt, replace=n_corrupt > len(train_texts))
                texts = [corrupt(train_texts[j], rng) for j in idx]
                vecs = self.embeddings_plain(texts)
                _save_npz(part, idx=idx, texts=np.array(texts, dtype=str), vectors=vecs)
            self.acc.wait_for_everyone()
            with np.load(part, allow_pickle=False) as z:
                targets += [train_texts[j] for j in z["idx"]]
                hyps += [str(t) for t in z["texts"]]
                hvecs.append(z["vectors"])
                tvecs.append(train_vecs[z["idx"]])
        return targets, hyps, np.concatenate(hvecs).astype(np.float32), np.concatenate(tvecs).astype(np.float32)

    def embeddings_plain(self, texts: list[str], chunk: int = 2048) -> np.ndarray:
        self.reporter.start("embed corrupted", len(texts))
        out = []
        for i in range(0, len(texts), chunk):
            out.append(self.embedder.embed(texts[i:i + chunk]))
            self.reporter.advance("embed corrupted", len(out[-1]))
        return np.concatenate(out) if out else np.zeros((0, self.embedder.dim), np.float32)


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def _save_npz(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def train(cfg: TrainConfig, resume: bool = False, reporter: Reporter | None = None, embedder=None,
          stop_after: int | None = None) -> Inverter:
    """Run (or resume) every stage; returns the trained inverter, also saved in ``cfg.out``."""
    return Trainer(cfg, resume=resume, reporter=reporter, embedder=embedder, stop_after=stop_after).run()
