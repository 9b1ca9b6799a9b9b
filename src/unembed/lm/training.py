"""Training an LM inverter: prompts -> target outputs (cached) -> inverter folder, resumably.

Stages, each resumable under ``out``:

1. prompts: seeded train / validation / test / out-of-domain splits from ``unembed.corpus``
   (the default corpus or a user's .txt / .jsonl file), with ``train_prompts`` capping the train set;
2. observe: the access mode's outputs for every prompt, in the resumable fp16 cache
   (``out/cache/<split>``), so the expensive target runs once and the cache can travel to a GPU;
3. inverter: the encoder-decoder trained through the project's one loop (``inversion.training``'s
   :class:`Fitter`: checkpoints, deterministic data order, resume, accelerate);
4. the inverter folder ``out/inverter`` and ``out/metrics.json`` (held-out scores).

``train(cfg, target=...)`` takes a loaded target (tests pass a tiny one). ``reuse`` names earlier
caches or runs whose observations of the same prompts stage 2 copies instead of asking the target
again (a run grown from 24,000 to 48,000 prompts pays for 24,000). ``init`` naming an LM inverter of the same target and access continues it on this run's prompts (the LM counterpart of
``unembed train --from``): how the shipped inverter grows with more prompts, on a CPU or a GPU.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, UnembedError
from ..inversion.models.transformer import load_bert_weights
from ..inversion.tokenization import Codec
from ..inversion.training import Fitter, LoopSettings, check_model_size, preset_transformer
from ..inversion.training.loop import accelerator
from ..io import read_json, write_json
from ..reporting import LogReporter, Reporter
from .access import parse_access
from .cache import ObservationCache
from .compact import SpanProjection
from .inverter import LMInverter, pool
from .model import LMInverterModel, LMModelConfig
from .targets import GEMMA, LocalTarget, Target, load_target

__all__ = ["LMTrainConfig", "train_lm", "observe_split", "projection_for", "warm_start_from_inverter",
           "continue_lm_inverter"]


@dataclass
class LMTrainConfig:
    """Every setting of ``unembed lm train``; the command line reads its defaults from here."""

    out: str
    target: str = GEMMA
    access: str = "probs:4"
    prompts: str = "default"  # a corpus spec: "default" or a .txt / .jsonl file
    train_prompts: int = 4000  # cap on training prompts (0: all)
    n_validation: int = 100
    n_test: int = 200
    max_prompt_tokens: int = 32
    sample_tokens: int = 24  # samples: length of each sampled output
    model: str = "small"  # inversion.training PRESETS name
    init: str = "bert"  # "bert" (MiniLM's BERT weights), "random", an embedding inverter, or an LM inverter to continue
    steps: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    lr_pretrained: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 200
    eval_every: int = 500
    save_every: int = 200
    dropout: float = 0.1
    seed: int = 0
    mixed_precision: str = "no"
    shard: int = 64
    reuse: list[str] = field(default_factory=list)  # caches or runs whose observations of the same prompts are copied
    dtype: str = "float32"  # weights on disk: float32, float16 or int8
    stop_after: int | None = None


def warm_start_from_inverter(seq2seq: torch.nn.Module, spec: str) -> list[str]:
    """Copy an embedding inverter's hypothesizer encoder-decoder (a shipped name such as ``minilm``, or
    a folder) into ``seq2seq``; returns the names copied (all of them: the sizes must match).

    Deliberate difference from logit2prompt (Morris et al. 2024), which starts from a pretrained T5:
    our embedding hypothesizer already writes corpus text from pseudo-token vectors, so only the
    projection from the LM's outputs is learned from scratch, and the decoder starts knowing the
    prompts' language, the main cost of a CPU-sized training run."""
    from ..inversion import load_inverter

    try:
        source = load_inverter(spec, precision="fp32").hypothesizer.seq2seq
    except UnembedError as exc:
        raise InputError(f"--init {spec}: neither bert, random, an LM inverter nor an embedding inverter ({exc})") from None
    if replace(source.cfg, dropout=seq2seq.cfg.dropout) != seq2seq.cfg:
        raise InputError(f"--init {spec}: its hypothesizer's transformer ({source.cfg}) differs from this --model's "
                         f"({seq2seq.cfg}); pick the --model of the same size, or --init bert")
    seq2seq.load_state_dict(source.state_dict())
    return [name for name, _ in seq2seq.named_parameters()]


def continue_lm_inverter(model: LMInverterModel, spec: str, access: str, fingerprint: str) -> LMInverter | None:
    """Start ``model`` as the LM inverter ``spec`` (a shipped name such as ``gemma3-270m``, its folder or
    a training run's folder), weights and feature standardisation both; returns that inverter, or None
    when ``spec`` names no LM inverter. It must have been trained on the same target (fingerprint),
    access mode and model size: its projection reads those features and no others."""
    from .inverter import lm_inverter_folder, load_lm_inverter

    if lm_inverter_folder(spec) is None:
        return None
    source = load_lm_inverter(spec)
    theirs = (source.access.spec, source.meta.get("target_fingerprint"))
    if theirs != (access, fingerprint):
        raise InputError(f"--init {spec}: that LM inverter reads {theirs[0]} from target {theirs[1]}, this run "
                         f"{access} from {fingerprint}; continue it with its own --target and --access")
    cfg = source.model.cfg
    if replace(cfg, transformer=replace(cfg.transformer, dropout=model.cfg.transformer.dropout)) != model.cfg:
        raise InputError(f"--init {spec}: its model ({cfg.transformer.d_model}-wide, {cfg.n_pseudo_tokens} pseudo-tokens) "
                         f"differs from this --model's; pass the --model it was trained with")
    model.load_state_dict(source.model.state_dict())
    return source


def projection_for(target: Target) -> SpanProjection:
    if not isinstance(target, LocalTarget):
        from ..errors import TargetError

        raise TargetError(f"{target.name} gives no output matrix: probs mode needs an open-weights target")
    if target.span_projection is None:  # one QR of the output matrix per loaded target
        target.span_projection = SpanProjection.from_matrix(target.output_matrix())
    return target.span_projection


def observe_split(target: Target, access, prompts, folder: Path, reporter: Reporter, stage: str, shard: int = 64,
                  reuse: list[str] | tuple = ()):
    """The access mode's outputs for ``prompts``, cached in ``folder``; prompts that the ``reuse``
    caches (or runs) observed on the same target and access are copied, not asked again."""
    projection = projection_for(target) if access.mode == "probs" else None
    cache = ObservationCache(folder, target.fingerprint(), access.spec, prompts, shard=shard)
    return cache.fill(lambda chunk: access.observe(target, chunk, projection), reporter, stage, reuse=reuse)


def train_lm(cfg: LMTrainConfig, target: Target | None = None, reporter: Reporter | None = None) -> Path:
    """Run (or resume) a training run; returns the inverter folder."""
    from ..corpus import load_corpus

    reporter = reporter or LogReporter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    check_model_size(cfg.model)
    saved = out / "lm_train.json"
    if saved.exists():
        old = read_json(saved)
        diff = [k for k in ("target", "access", "prompts", "model") if old.get(k) != getattr(cfg, k)]
        if diff:
            raise InputError(f"{out} holds a run with another {', '.join(diff)}; use another --out")
    write_json(saved, asdict(cfg))
    target = target if target is not None else load_target(cfg.target)
    codec = Codec.default()
    corpus = load_corpus(cfg.prompts, out / "corpus", max_tokens=cfg.max_prompt_tokens, seed=cfg.seed,
                         n_validation=cfg.n_validation, n_test=cfg.n_test)
    train_prompts = list(corpus.train)
    if cfg.train_prompts and len(train_prompts) > cfg.train_prompts:
        pick = np.random.default_rng(cfg.seed).choice(len(train_prompts), cfg.train_prompts, replace=False)
        train_prompts = [train_prompts[i] for i in sorted(pick)]
    probes = getattr(target, "hidden_size", 0) + 1 if isinstance(target, LocalTarget) else 0
    access = parse_access(cfg.access, probes=probes)
    if access.mode == "topk" and not probes:
        probes = int(getattr(target, "probe_count", 0) or 0)
        if not probes:
            raise InputError("topk training against an endpoint needs the probe count (hidden size + 1) of the model: "
                             "train against the local model folder, or pass it as ?probes=N in the URL")
        access = parse_access(cfg.access, probes=probes)
    if access.mode == "samples":
        access = replace(access, max_tokens=cfg.sample_tokens)
    obs = observe_split(target, access, train_prompts, out / "cache" / "train", reporter, "observe train", cfg.shard,
                        cfg.reuse)
    val = observe_split(target, access, list(corpus.validation), out / "cache" / "validation", reporter,
                        "observe validation", cfg.shard, cfg.reuse)

    tcfg, k = preset_transformer(cfg.model, codec.vocab_size, cfg.dropout, codec)
    feature_dim = 0 if obs.features is None else obs.features.shape[-1]
    mcfg = LMModelConfig(mode=access.mode, feature_dim=feature_dim, positions=access.positions,
                         n_pseudo_tokens=k if access.mode != "samples" else 0, transformer=tcfg)
    torch.manual_seed(cfg.seed)
    model = LMInverterModel(mcfg)
    pretrained: set[str] = set()
    continued = None if cfg.init in ("bert", "random") else continue_lm_inverter(model, cfg.init, access.spec,
                                                                                  target.fingerprint())
    if continued is not None:  # every weight is trained already: all at the pretrained learning rate
        pretrained = {name for name, _ in model.named_parameters()}
    elif cfg.init == "bert":
        from ..inversion.training import warm_start_state
        from ..inversion.training.config import TrainConfig

        state = warm_start_state(TrainConfig(out=str(out)))
        pretrained = {f"seq2seq.{n}" for n in load_bert_weights(model.seq2seq, state)}
    elif cfg.init != "random":
        pretrained = {f"seq2seq.{n}" for n in warm_start_from_inverter(model.seq2seq, cfg.init)}
    if obs.features is not None and continued is None:  # a continued inverter keeps the scale it learned on
        model.set_standardisation(torch.as_tensor(obs.features))
    labels_all = codec.labels(train_prompts, cfg.max_prompt_tokens)
    meta = {"name": out.name, "access": access.spec, "target": cfg.target, "target_fingerprint": target.fingerprint(),
            "probes": access.probes, "max_prompt_tokens": cfg.max_prompt_tokens, "sample_tokens": cfg.sample_tokens,
            "train_prompts": len(train_prompts), "steps": cfg.steps, "prompts": cfg.prompts,
            "init": cfg.init if continued is None else f"continued {continued.name}"}
    inv = LMInverter(model, codec, meta)

    def make_batch(idx: np.ndarray) -> dict:
        lab = labels_all[idx]
        width = int((lab != codec.pad_id).sum(1).max())
        return {"labels": lab[:, :width], **inv.batch(obs, idx.tolist())}

    def evaluate() -> dict:
        from ..metrics import score

        model.eval()
        texts = inv.invert(val.subset(range(min(32, len(val)))))
        model.train()
        m = score(texts, list(corpus.validation)[:len(texts)])
        return {"val_bleu": m["bleu"], "val_exact": m["exact_match"]}

    settings = LoopSettings(batch_size=cfg.batch_size, lr=cfg.lr, lr_pretrained=cfg.lr_pretrained,
                            weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps, eval_every=cfg.eval_every,
                            save_every=cfg.save_every, seed=cfg.seed)
    acc = accelerator(cfg.mixed_precision)
    fitter = Fitter(acc, out, settings, reporter, stop_after=cfg.stop_after, precision=cfg.mixed_precision)
    fitter.fit("lm-inverter", model, pretrained, cfg.steps, make_batch, len(train_prompts), evaluate)
    fitter.restore("lm-inverter", model)
    model.eval()
    if obs.features is not None:
        inv.neighbours = (pool(model, obs.features), train_prompts)
    folder = inv.save(out / "inverter", cfg.dtype)
    write_json(out / "splits.json", {"test": list(corpus.test), "ood": list(corpus.ood),
                                     "validation": list(corpus.validation)})
    return folder

