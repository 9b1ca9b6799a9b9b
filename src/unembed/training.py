"""Training an inverter for any embedder and corpus: both stages, resumable, on accelerate.

One call of :func:`train` runs every stage in order, each of which skips itself when its output
already exists, so an interrupted run continues where it stopped (``resume=True``):

1. corpus      seeded train / validation / test splits (``corpus.load_corpus``)
2. embeddings  the embedder's vectors of every training and validation text, in chunks
3. hypothesizer  embedding -> text (Morris et al. 2023, the "zero-step" model)
4. corrector data  the hypothesizer's own greedy hypotheses of training texts, re-embedded; plus,
               optionally, corrupted copies of targets (a cheap source of near-miss hypotheses)
5. corrector   (target e, hypothesis ê, e - ê, hypothesis tokens) -> the target text; initialised
               from the trained hypothesizer, which already writes text from pseudo-tokens
6. export      the inverter folder (``inverter.Inverter.save``)

Checkpoints are safetensors plus a JSON file written last (the commit marker), each atomically, so a
crash leaves the previous checkpoint intact. Randomness (data order, dropout) is a pure function of
(seed, stage, step), which makes a resumed run reach the same state as an uninterrupted one.
The same code runs on CPU, one GPU or several (``accelerate launch``): each process takes its slice
of every global batch; data preparation runs on the main process.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
import zlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch

from .errors import CheckpointError, InputError, UnembedError
from .inverter import Inverter, _atomic_write_bytes, cpu_has_bf16
from .models import Corrector, CorrectorConfig, Hypothesizer, HypothesizerConfig, TransformerConfig, load_bert_weights
from .tokenization import Codec

log = logging.getLogger(__name__)

# Model sizes. "bert" initialisation needs d_model/heads/d_ff equal to the warm-start checkpoint's.
PRESETS: dict[str, dict] = {
    "tiny": dict(d_model=64, n_heads=2, d_ff=128, n_encoder_layers=1, n_decoder_layers=1, n_pseudo_tokens=4),
    "small": dict(d_model=384, n_heads=12, d_ff=1536, n_encoder_layers=3, n_decoder_layers=3, n_pseudo_tokens=16),
    "base": dict(d_model=384, n_heads=12, d_ff=1536, n_encoder_layers=6, n_decoder_layers=6, n_pseudo_tokens=16),
}


@dataclass
class TrainConfig:
    out: str
    embedder: str = "minilm"
    corpus: str = "default"
    max_tokens: int = 32
    seed: int = 0
    model: str = "small"  # a PRESETS name
    init: str = "bert"  # "bert": warm-start from MiniLM's BERT weights (or init_from); "random"
    init_from: str | None = None  # a BERT safetensors file or model folder; default: the MiniLM package
    batch_size: int = 64
    lr: float = 1e-3  # fresh parameters
    lr_pretrained: float = 3e-4  # warm-started parameters
    weight_decay: float = 0.01
    warmup_steps: int = 200
    hypothesizer_steps: int = 2000
    corrector_steps: int = 2000
    corrector_examples: int = 0  # training texts given a hypothesis for the corrector (0 = all)
    corrupt_fraction: float = 0.25  # extra corrector examples: corrupted copies of targets, as a fraction
    corrector_freeze_embeddings: bool = True  # keep the hypothesizer's token embeddings (shared on export)
    n_validation: int = 500
    n_test: int = 500
    eval_every: int = 500
    eval_size: int = 64
    save_every: int = 200
    mixed_precision: str = "auto"  # auto | bf16 | fp16 | no
    dropout: float = 0.1
    export_dtype: str = "float32"  # float32 | float16 | bfloat16 | int8 (per-row weight quantisation)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise InputError(f"unknown training options: {', '.join(sorted(unknown))}")
        return cls(**d)


class Reporter(Protocol):
    """Where training reports progress (the command line passes rich progress bars)."""

    def start(self, stage: str, total: int, completed: int = 0) -> None: ...
    def advance(self, stage: str, n: int = 1, **info) -> None: ...
    def note(self, message: str) -> None: ...


class LogReporter:
    def start(self, stage, total, completed=0):
        log.info("%s: %d/%d", stage, completed, total)

    def advance(self, stage, n=1, **info):
        pass

    def note(self, message):
        log.info(message)


class TrainingInterrupted(UnembedError):
    pass


# -- small helpers --------------------------------------------------------------------------------
def _write_json(path: Path, obj) -> None:
    _atomic_write_bytes(path, json.dumps(obj, indent=2).encode())


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is corrupt: {exc}; delete it to redo that stage") from None


def resolve_precision(choice: str) -> str:
    if choice != "auto":
        return choice
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_bf16() else "no"


def model_configs(cfg: TrainConfig, embedding_dim: int, vocab_size: int, codec: Codec):
    if cfg.model not in PRESETS:
        raise InputError(f"unknown model size '{cfg.model}': use one of {', '.join(PRESETS)}")
    p = dict(PRESETS[cfg.model])
    k = p.pop("n_pseudo_tokens")
    t = TransformerConfig(vocab_size=vocab_size, max_positions=512, dropout=cfg.dropout,
                          pad_id=codec.pad_id, bos_id=codec.bos_id, eos_id=codec.eos_id, **p)
    return (HypothesizerConfig(embedding_dim, k, t), CorrectorConfig(embedding_dim, k, TransformerConfig(**asdict(t))))


def warm_start_state(cfg: TrainConfig) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    src = cfg.init_from
    if src is None:
        from .embedders import minilm_path

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


class Batches:
    """Deterministic data order: global item p of the stream is perm(seed, epoch)[p mod n]."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        if n == 0:
            raise InputError("no training examples")
        self.n, self.b, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self._perms: dict[int, np.ndarray] = {}

    def perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return self._perms[epoch]

    def __call__(self, step: int) -> np.ndarray:
        g = self.b * self.world
        positions = np.arange(step * g + self.rank * self.b, step * g + (self.rank + 1) * self.b)
        return np.array([self.perm(int(p // self.n))[p % self.n] for p in positions])


def lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
    return f


# -- checkpoints ----------------------------------------------------------------------------------
def save_checkpoint(folder: Path, model, optimizer, step: int, extra: dict) -> None:
    from safetensors.torch import save

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for pid, st in opt["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu().contiguous()
    name = f"step-{step:08d}.safetensors"
    _atomic_write_bytes(folder / name, save(tensors))
    groups = [{k: v for k, v in g.items() if k != "params"} | {"params": g["params"]} for g in opt["param_groups"]]
    _write_json(folder / "checkpoint.json", {"step": step, "weights": name, "param_groups": groups, **extra})
    for old in folder.glob("step-*.safetensors"):
        if old.name != name:
            old.unlink()


def load_checkpoint(folder: Path, model, optimizer) -> tuple[int, dict]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    meta = _read_json(folder / "checkpoint.json")
    try:
        tensors = load_file(str(folder / meta["weights"]))
    except (SafetensorError, OSError, KeyError) as exc:
        raise CheckpointError(f"checkpoint in {folder} is corrupt or truncated ({exc}); delete the folder to restart that stage") from None
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return meta["step"], meta


# -- the trainer ----------------------------------------------------------------------------------
class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False, reporter: Reporter | None = None,
                 embedder=None, stop_after: int | None = None):
        from accelerate import Accelerator

        self.cfg, self.out = cfg, Path(cfg.out)
        self.reporter = reporter or LogReporter()
        self.stop_after = stop_after  # stop (as if interrupted) after this many optimizer steps
        self.steps_this_run = 0
        self.precision = resolve_precision(cfg.mixed_precision)
        self._export_dtype()  # an unknown export dtype fails now, not after training
        self.acc = Accelerator(mixed_precision=self.precision, cpu=not torch.cuda.is_available())
        self._prepare_folder(resume)
        if embedder is None:
            from .embedders import load_embedder

            embedder = load_embedder(cfg.embedder)
        self.embedder = embedder
        self.codec = Codec.default()

    def _prepare_folder(self, resume: bool) -> None:
        cfg_file = self.out / "train_config.json"
        if cfg_file.exists():
            saved = _read_json(cfg_file)
            if not resume:
                raise InputError(f"{self.out} already holds a training run: pass --resume to continue it, or choose another --out")
            if saved != asdict(self.cfg):
                diff = sorted(k for k in saved if saved.get(k) != asdict(self.cfg).get(k))
                raise InputError(f"cannot resume {self.out}: options differ from the saved run ({', '.join(diff)})")
        elif self.acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            _write_json(cfg_file, asdict(self.cfg))
        self.acc.wait_for_everyone()

    # stage 1 + 2 ------------------------------------------------------------------------------
    def corpus(self):
        from .corpus import load_corpus

        c = load_corpus(self.cfg.corpus, self.out / "corpus", max_tokens=self.cfg.max_tokens, seed=self.cfg.seed,
                        n_validation=self.cfg.n_validation, n_test=self.cfg.n_test,
                        count_tokens=lambda t: len(self.codec.ids([t])[0]))
        return c

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
            tmp = part.with_name(part.name + ".tmp.npy")
            np.save(tmp, vecs)
            os.replace(tmp, part)
            self.reporter.advance(f"embed {name}", len(vecs))
        arr = np.concatenate([np.load(folder / f"{name}.part{i:05d}.npy") for i in range(n_chunks)]).astype(np.float32)
        tmp = final.with_name(final.name + ".tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, final)
        for i in range(n_chunks):
            (folder / f"{name}.part{i:05d}.npy").unlink()
        return arr

    # training loop shared by both models -----------------------------------------------------
    def fit(self, stage: str, model: torch.nn.Module, pretrained: set[str], steps: int,
            make_batch: Callable[[np.ndarray], dict], n_items: int, evaluate: Callable[[], dict]) -> None:
        cfg, acc = self.cfg, self.acc
        folder = self.out / "checkpoints" / stage
        if (folder / "done.json").exists():
            return
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for n, p in trainable if n in pretrained], "lr": cfg.lr_pretrained},
            {"params": [p for n, p in trainable if n not in pretrained], "lr": cfg.lr},
        ]
        groups = [g for g in groups if g["params"]]
        optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        for g in optimizer.param_groups:
            g["initial_lr"] = g["lr"]
        start = 0
        if (folder / "checkpoint.json").exists():
            start, _ = load_checkpoint(folder, model, optimizer)
            self.reporter.note(f"{stage}: resuming at step {start}")
        schedule = lr_lambda(cfg.warmup_steps, steps)
        model, optimizer = acc.prepare(model, optimizer)
        batches = Batches(n_items, cfg.batch_size, cfg.seed, acc.process_index, acc.num_processes)
        self.reporter.start(stage, steps, start)
        ema, window = None, []
        log_file = self.out / "log.jsonl"
        t0, seen = time.perf_counter(), 0
        step = start
        try:
            for step in range(start, steps):
                if self.stop_after is not None and self.steps_this_run >= self.stop_after:
                    raise KeyboardInterrupt
                for g in optimizer.param_groups:
                    g["lr"] = g["initial_lr"] * schedule(step)
                torch.manual_seed(zlib.crc32(f"{cfg.seed}:{stage}:{step}".encode()))
                batch = {k: v.to(acc.device) for k, v in make_batch(batches(step)).items()}
                model.train()
                with acc.autocast():
                    loss = model(**batch)
                acc.backward(loss)
                acc.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                self.steps_this_run += 1
                seen += len(next(iter(batch.values()))) * acc.num_processes
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise UnembedError(f"{stage}: loss became {value} at step {step}; lower --lr or use --mixed-precision no")
                ema = value if ema is None else 0.98 * ema + 0.02 * value
                window.append(value)
                self.reporter.advance(stage, 1, loss=ema)
                done_steps = step + 1
                record = None
                if cfg.eval_every and acc.is_main_process and (done_steps % cfg.eval_every == 0 or done_steps == steps):
                    record = {"stage": stage, "step": done_steps, **evaluate()}
                    self.reporter.note(f"{stage} step {done_steps}: " + ", ".join(
                        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k not in ("stage", "step")))
                if acc.is_main_process and (done_steps % cfg.save_every == 0 or done_steps == steps):
                    save_checkpoint(folder, acc.unwrap_model(model), optimizer, done_steps, {"loss": ema})
                if acc.is_main_process and (record or done_steps % 10 == 0):
                    elapsed = time.perf_counter() - t0
                    record = record or {"stage": stage, "step": done_steps}
                    record["loss"] = float(np.mean(window))  # mean training loss since the last record
                    window = []
                    record["examples_per_second"] = seen / max(elapsed, 1e-9)
                    with open(log_file, "a") as f:
                        f.write(json.dumps(record) + "\n")
        except KeyboardInterrupt:
            if acc.is_main_process and step > start:
                save_checkpoint(folder, acc.unwrap_model(model), optimizer, step, {"loss": ema})
            raise TrainingInterrupted(f"{stage} interrupted at step {step}; checkpoint saved: rerun with --resume to continue") from None
        if acc.is_main_process:
            elapsed = time.perf_counter() - t0
            _write_json(folder / "done.json", {"steps": steps, "examples_per_second": seen / max(elapsed, 1e-9),
                                               "seconds_this_run": elapsed, "precision": self.precision})
        acc.wait_for_everyone()

    def _restore(self, stage: str, model: torch.nn.Module) -> None:
        folder = self.out / "checkpoints" / stage
        meta = _read_json(folder / "checkpoint.json")
        from safetensors.torch import load_file

        tensors = load_file(str(folder / meta["weights"]))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})

    def _evaluator(self, hyp, cor, texts: list[str], vecs: np.ndarray, steps: int) -> Callable[[], dict]:
        from .metrics import score

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
        return Inverter(self.acc.unwrap_model(hyp), None if cor is None else self.acc.unwrap_model(cor), self.codec,
                        self.embedder.fingerprint(), self.cfg.max_tokens, self.info(), embedder=self.embedder,
                        device=str(self.acc.device))

    def info(self) -> dict:
        info = {"train_config": asdict(self.cfg), "precision": self.precision}
        for stage in ("hypothesizer", "corrector"):
            f = self.out / "checkpoints" / stage / "done.json"
            if f.exists():
                info[stage] = _read_json(f)
        return info

    # the whole pipeline -----------------------------------------------------------------------
    def run(self) -> Inverter:
        cfg = self.cfg
        with self.acc.main_process_first():  # the main process builds, the others then read
            corpus = self.corpus()
            train_texts, val_texts = corpus.train, corpus.validation
            train_vecs = self.embeddings("train", train_texts)
            val_vecs = self.embeddings("validation", val_texts)
        self.reporter.note(f"corpus: {len(train_texts)} train, {len(val_texts)} validation, {len(corpus.test)} test texts")
        k = min(cfg.eval_size, len(val_texts))
        ev_texts, ev_vecs = val_texts[:k], val_vecs[:k]

        hcfg, ccfg = model_configs(cfg, self.embedder.dim, self.codec.vocab_size, self.codec)
        torch.manual_seed(cfg.seed)  # initialisation is part of the reproducible state
        hyp = Hypothesizer(hcfg)
        pretrained: set[str] = set()
        if cfg.init == "bert":
            try:
                loaded = load_bert_weights(hyp.seq2seq, warm_start_state(cfg))
            except ValueError as exc:
                raise InputError(f"model '{cfg.model}' cannot warm-start from BERT weights ({exc}): use --init random "
                                 "or a model size whose width matches the checkpoint") from None
            pretrained = {f"seq2seq.{n}" for n in loaded}
        elif cfg.init != "random":
            raise InputError(f"unknown init '{cfg.init}': use bert or random")

        def hyp_batch(idx: np.ndarray) -> dict:
            texts = [train_texts[i] for i in idx]
            return {"e": torch.from_numpy(train_vecs[idx]), "labels": self.codec.labels(texts, cfg.max_tokens)}

        self.fit("hypothesizer", hyp, pretrained, cfg.hypothesizer_steps, hyp_batch, len(train_texts),
                 self._evaluator(hyp, None, ev_texts, ev_vecs, 0))
        self._restore("hypothesizer", hyp)
        if self.acc.is_main_process:
            self.inverter(hyp, None).save(self.out, self._export_dtype())  # usable already, steps=0
        self.acc.wait_for_everyone()
        if cfg.corrector_steps <= 0:
            return Inverter.load(self.out, embedder=self.embedder)

        with self.acc.main_process_first():  # the main process generates, the others then read
            targets, hyps, hyp_vecs, tgt_vecs = self.corrector_data(hyp, train_texts, train_vecs)
        torch.manual_seed(cfg.seed + 1)
        cor = Corrector(ccfg)
        # Warm-start from the trained hypothesizer: same transformer, target projection included.
        cor.seq2seq.load_state_dict(self.acc.unwrap_model(hyp).seq2seq.state_dict())
        cor.project_target.load_state_dict(self.acc.unwrap_model(hyp).project.state_dict())
        pretrained = {n for n, _ in cor.named_parameters() if n.startswith(("seq2seq.", "project_target."))}
        if cfg.corrector_freeze_embeddings:
            cor.seq2seq.tok.weight.requires_grad_(False)

        def cor_batch(idx: np.ndarray) -> dict:
            ids, mask = self.codec.inputs([hyps[i] for i in idx], cfg.max_tokens + 8)
            return {"e": torch.from_numpy(tgt_vecs[idx]), "e_hat": torch.from_numpy(hyp_vecs[idx]),
                    "hyp_ids": ids, "hyp_mask": mask, "labels": self.codec.labels([targets[i] for i in idx], cfg.max_tokens)}

        hyp.eval()
        self.fit("corrector", cor, pretrained, cfg.corrector_steps, cor_batch, len(targets),
                 self._evaluator(hyp, cor, ev_texts, ev_vecs, 1))
        self._restore("corrector", cor)
        if self.acc.is_main_process:
            self.inverter(hyp, cor).save(self.out, self._export_dtype())
        self.acc.wait_for_everyone()
        return Inverter.load(self.out, embedder=self.embedder)

    def _export_dtype(self):
        choices = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16, "int8": "int8"}
        if self.cfg.export_dtype not in choices:
            raise InputError(f"unknown export dtype '{self.cfg.export_dtype}': use {', '.join(choices)}")
        return choices[self.cfg.export_dtype]

    def corrector_data(self, hyp, train_texts, train_vecs, chunk: int = 1024):
        """Greedy hypotheses of training texts and their embeddings, in resumable chunks.

        Run by the main process first; the other processes then find every chunk on disk."""
        cfg = self.cfg
        folder = self.out / "corrector_data"
        folder.mkdir(parents=True, exist_ok=True)
        n = len(train_texts) if cfg.corrector_examples <= 0 else min(cfg.corrector_examples, len(train_texts))
        order = np.random.default_rng([cfg.seed, 7]).permutation(len(train_texts))[:n]
        n_chunks = math.ceil(n / chunk)
        inv = self.inverter(hyp, None)
        self.reporter.start("corrector data", n, sum(min(chunk, n - i * chunk) for i in range(n_chunks)
                                                    if (folder / f"round0.part{i:05d}.npz").exists()))
        for i in range(n_chunks):
            part = folder / f"round0.part{i:05d}.npz"
            if part.exists():
                continue
            idx = order[i * chunk:(i + 1) * chunk]
            res = inv.invert(train_vecs[idx], steps=0, beam=1, batch_size=512 if inv.device.type == "cuda" else 64)
            texts = [r.text for r in res]
            vecs = self.embedder.embed(texts)
            tmp = part.with_name(part.name + ".tmp.npz")
            np.savez(tmp, idx=idx, texts=np.array(texts, dtype=str), vectors=vecs)
            os.replace(tmp, part)
            self.reporter.advance("corrector data", len(idx))
        targets, hyps, hvecs, tvecs = [], [], [], []
        for i in range(n_chunks):
            with np.load(folder / f"round0.part{i:05d}.npz", allow_pickle=False) as z:
                targets += [train_texts[j] for j in z["idx"]]
                hyps += [str(t) for t in z["texts"]]
                hvecs.append(z["vectors"])
                tvecs.append(train_vecs[z["idx"]])
        n_corrupt = int(round(cfg.corrupt_fraction * n))
        if n_corrupt:
            part = folder / "corrupt.npz"
            if not part.exists():
                rng = np.random.default_rng([cfg.seed, 11])
                idx = rng.choice(len(train_texts), n_corrupt, replace=n_corrupt > len(train_texts))
                texts = [corrupt(train_texts[j], rng) for j in idx]
                vecs = self.embeddings_plain(texts)
                tmp = part.with_name(part.name + ".tmp.npz")
                np.savez(tmp, idx=idx, texts=np.array(texts, dtype=str), vectors=vecs)
                os.replace(tmp, part)
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


def train(cfg: TrainConfig, resume: bool = False, reporter: Reporter | None = None, embedder=None,
          stop_after: int | None = None) -> Inverter:
    """Run (or resume) every stage; returns the trained inverter, also saved in ``cfg.out``."""
    return Trainer(cfg, resume=resume, reporter=reporter, embedder=embedder, stop_after=stop_after).run()
