"""The LM inverter network: the project's encoder-decoder (``inversion.models``) over LM outputs.

- Vector modes (``probs``, ``topk``): each position's compact vector (standardised with the training
  set's mean and spread) becomes k pseudo-tokens through the project's :class:`EmbeddingProjection`
  (the embedding inverter's input layer, Morris et al. 2023); the P positions' pseudo-tokens, in
  order, are the encoder's whole input. logit2prompt (Morris et al. 2024) instead unrolls the full
  vocabulary vector into chunks of d_model numbers, one pseudo-token each: for Gemma that would be
  262,144 / d_model tokens, where the compact form needs k per position.
- ``samples``: output2prompt's layout (Zhang et al. 2024): the encoder reads each sampled output on
  its own (WordPiece ids through the shared token embeddings) and the decoder attends over all of
  them at once (their encodings concatenated), so the cost grows linearly in the number of samples.

The decoder writes the prompt in the inverter's WordPiece vocabulary (``inversion.tokenization``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..inversion.models.transformer import EmbeddingProjection, Seq2Seq, TransformerConfig

__all__ = ["LMModelConfig", "LMInverterModel"]


@dataclass
class LMModelConfig:
    mode: str = "probs"  # probs | topk | samples
    feature_dim: int = 0
    positions: int = 1
    n_pseudo_tokens: int = 4
    transformer: TransformerConfig = field(default_factory=TransformerConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LMModelConfig":
        return cls(**{**d, "transformer": TransformerConfig(**d["transformer"])})


class LMInverterModel(nn.Module):
    def __init__(self, cfg: LMModelConfig):
        super().__init__()
        self.cfg = cfg
        t = cfg.transformer
        self.seq2seq = Seq2Seq(t)
        if cfg.mode != "samples":
            self.project = EmbeddingProjection(cfg.feature_dim, t.d_model, cfg.n_pseudo_tokens, t.dropout)
            self.register_buffer("feature_mean", torch.zeros(cfg.feature_dim))
            self.register_buffer("feature_std", torch.ones(cfg.feature_dim))

    def set_standardisation(self, features: torch.Tensor) -> None:
        """Mean and spread of each feature over (examples, positions) of the training set."""
        flat = features.reshape(-1, features.shape[-1]).float()
        self.feature_mean.copy_(flat.mean(0))
        self.feature_std.copy_(flat.std(0).clamp_min(1e-3))

    def encode(self, features=None, sample_ids=None, sample_mask=None):
        if self.cfg.mode != "samples":
            b, p, f = features.shape
            x = (features - self.feature_mean) / self.feature_std
            pseudo = self.project(x.reshape(b * p, f)).reshape(b, p * self.cfg.n_pseudo_tokens, -1)
            return self.seq2seq.encode(pseudo)
        b, n, length = sample_ids.shape
        flat_ids, flat_mask = sample_ids.reshape(b * n, length), sample_mask.reshape(b * n, length)
        memory, _ = self.seq2seq.encode(self.seq2seq.tok(flat_ids), flat_mask)
        memory = memory.reshape(b, n * length, -1)
        return memory, sample_mask.reshape(b, n * length)[:, None, None, :]

    def forward(self, labels, features=None, sample_ids=None, sample_mask=None):
        return self.seq2seq.loss(*self.encode(features, sample_ids, sample_mask), labels)

    @torch.no_grad()
    def generate(self, max_len: int, num_beams: int = 1, features=None, sample_ids=None, sample_mask=None,
                 num_return: int = 1):
        return self.seq2seq.generate(*self.encode(features, sample_ids, sample_mask), max_len, num_beams, num_return)
