"""Training settings: model sizes and the one config dataclass every entry point reads its defaults from."""
from __future__ import annotations

from dataclasses import dataclass, fields

from ...errors import InputError

__all__ = ["PRESETS", "TrainConfig", "check_model_size"]

# Model sizes. "bert" initialisation needs d_model/heads/d_ff equal to the warm-start checkpoint's.
PRESETS: dict[str, dict] = {
    "tiny": dict(d_model=64, n_heads=2, d_ff=128, n_encoder_layers=1, n_decoder_layers=1, n_pseudo_tokens=4),
    "small": dict(d_model=384, n_heads=12, d_ff=1536, n_encoder_layers=3, n_decoder_layers=3, n_pseudo_tokens=16),
    "base": dict(d_model=384, n_heads=12, d_ff=1536, n_encoder_layers=6, n_decoder_layers=6, n_pseudo_tokens=16),
}


def check_model_size(name: str) -> None:
    """Refuse (InputError, one line) a model size that is not a :data:`PRESETS` name."""
    if name not in PRESETS:
        raise InputError(f"unknown model size '{name}': use one of {', '.join(PRESETS)}")


@dataclass
class TrainConfig:
    """Every setting of a training run; the command line reads its defaults from here.

    ``start_from`` continues an existing inverter (a folder or a shipped name) instead of building a
    new one: both models start from its weights, ``model`` and ``init`` are not used, its embedder
    fingerprint is kept (a different embedder is refused), and the corrector is initialised from
    the inverter's own corrector rather than from the new hypothesizer."""

    out: str
    embedder: str = "minilm"
    corpus: str = "default"
    max_tokens: int = 32
    seed: int = 0
    model: str = "small"  # a PRESETS name
    init: str = "bert"  # "bert": warm-start from MiniLM's BERT weights (or init_from); "random"
    init_from: str | None = None  # a BERT safetensors file or model folder; default: the MiniLM package
    start_from: str | None = None  # continue this inverter (folder or shipped name): `unembed train --from`
    train_texts: int = 0  # train on a seeded sample of this many corpus texts (0: all); only they are embedded
    sample_seed: int | None = None  # the seed of that sample (None: ``seed``); the splits stay ``seed``'s, so a
    # continued run draws other training texts while its test split stays the one every run is measured on
    batch_size: int = 64
    lr: float = 1e-3  # fresh parameters
    lr_pretrained: float = 3e-4  # warm-started parameters (with start_from: every parameter)
    weight_decay: float = 0.01
    warmup_steps: int = 200
    hypothesizer_steps: int = 2000
    corrector_steps: int = 2000
    corrector_examples: int = 0  # training texts given a hypothesis for the corrector (0 = all)
    corrector_rounds: int = 1  # rounds of the model's own hypotheses the corrector learns from (1: round 0 only)
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

    def check(self) -> None:
        """Refuse impossible settings with one line, before anything is loaded."""
        for name in ("max_tokens", "batch_size", "eval_size", "save_every", "corrector_rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be a whole number >= 1, got {value!r}")
        if self.sample_seed is not None and (isinstance(self.sample_seed, bool) or not isinstance(self.sample_seed, int)
                                             or self.sample_seed < 0):
            raise InputError(f"--sample-seed must be a whole number >= 0, got {self.sample_seed!r}")
        for name in ("train_texts", "hypothesizer_steps", "corrector_steps", "corrector_examples", "warmup_steps", "eval_every",
                     "n_validation", "n_test", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"--{name.replace('_', '-')} must be a whole number >= 0, got {value!r}")
        for name in ("lr", "lr_pretrained"):
            if not getattr(self, name) > 0:
                raise InputError(f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.corrupt_fraction <= 10:
            raise InputError(f"corrupt_fraction must be between 0 and 10, got {self.corrupt_fraction!r}")
        if not 0 <= self.dropout < 1:
            raise InputError(f"--dropout must be in [0, 1), got {self.dropout!r}")
        if self.mixed_precision not in ("auto", "bf16", "fp16", "no"):
            raise InputError(f"unknown mixed precision '{self.mixed_precision}': use auto, bf16, fp16 or no")
        if self.start_from is None:
            check_model_size(self.model)
        if self.start_from is None and self.init not in ("bert", "random"):
            raise InputError(f"unknown init '{self.init}': use bert or random")
