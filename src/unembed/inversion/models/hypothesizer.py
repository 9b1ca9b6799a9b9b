"""The hypothesizer: text from an embedding alone, in one pass.

The target embedding e is projected into k pseudo-token vectors that form the whole encoder input of
an encoder-decoder; the decoder writes the text. This is the "zero-step" model of Morris et al.,
"Text Embeddings Reveal (Almost) As Much As Text" (EMNLP 2023), whose first hypothesis the corrector
then refines.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .transformer import EmbeddingProjection, Seq2Seq, TransformerConfig


@dataclass
class HypothesizerConfig:
    embedding_dim: int = 384
    n_pseudo_tokens: int = 16
    transformer: TransformerConfig = field(default_factory=TransformerConfig)


class Hypothesizer(nn.Module):
    def __init__(self, cfg: HypothesizerConfig):
        super().__init__()
        self.cfg = cfg
        t = cfg.transformer
        self.project = EmbeddingProjection(cfg.embedding_dim, t.d_model, cfg.n_pseudo_tokens, t.dropout)
        self.seq2seq = Seq2Seq(t)

    def encode(self, e: torch.Tensor):
        return self.seq2seq.encode(self.project(e))

    def forward(self, e: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean token cross-entropy of ``labels`` (B, T; ids ending in EOS, padded) given e (B, E)."""
        return self.seq2seq.loss(*self.encode(e), labels)

    @torch.no_grad()
    def generate(self, e: torch.Tensor, max_len: int, num_beams: int = 1, num_return: int = 1):
        return self.seq2seq.generate(*self.encode(e), max_len, num_beams, num_return)

    @torch.no_grad()
    def sample(self, e: torch.Tensor, max_len: int, n: int, temperature: float = 1.0, generator=None):
        return self.seq2seq.sample(*self.encode(e), max_len, n, temperature, generator)
