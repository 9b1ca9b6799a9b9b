"""The corrector: one step from a hypothesis toward the text behind a target embedding.

Inputs, following Morris et al. (EMNLP 2023, §4): the target embedding e, the hypothesis' own
embedding ê (from the real embedder), their difference e - ê, each projected into k pseudo-tokens by
its own projection, followed by the hypothesis' tokens. The encoder reads all of it; the decoder
writes the next hypothesis. Applied repeatedly, with a sequence-level beam outside the model, this
walks the text toward the original.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .transformer import EmbeddingProjection, Seq2Seq, TransformerConfig


@dataclass
class CorrectorConfig:
    embedding_dim: int = 384
    n_pseudo_tokens: int = 16
    transformer: TransformerConfig = field(default_factory=TransformerConfig)


class Corrector(nn.Module):
    def __init__(self, cfg: CorrectorConfig):
        super().__init__()
        self.cfg = cfg
        t = cfg.transformer
        args = (cfg.embedding_dim, t.d_model, cfg.n_pseudo_tokens, t.dropout)
        self.project_target = EmbeddingProjection(*args)
        self.project_hypothesis = EmbeddingProjection(*args)
        self.project_difference = EmbeddingProjection(*args)
        self.seq2seq = Seq2Seq(t)

    def encode(self, e, e_hat, hyp_ids, hyp_mask):
        """e, e_hat (B, E); hyp_ids, hyp_mask (B, T) -- the hypothesis' WordPiece ids and their mask."""
        pseudo = torch.cat(
            [self.project_target(e), self.project_hypothesis(e_hat), self.project_difference(e - e_hat)], dim=1
        )
        x = torch.cat([pseudo, self.seq2seq.tok(hyp_ids)], dim=1)
        mask = torch.cat([hyp_mask.new_ones(pseudo.shape[:2]), hyp_mask], dim=1).bool()
        return self.seq2seq.encode(x, mask)

    def forward(self, e, e_hat, hyp_ids, hyp_mask, labels) -> torch.Tensor:
        return self.seq2seq.loss(*self.encode(e, e_hat, hyp_ids, hyp_mask), labels)

    @torch.no_grad()
    def generate(self, e, e_hat, hyp_ids, hyp_mask, max_len: int, num_beams: int = 1, num_return: int = 1):
        return self.seq2seq.generate(*self.encode(e, e_hat, hyp_ids, hyp_mask), max_len, num_beams, num_return)

    @torch.no_grad()
    def sample(self, e, e_hat, hyp_ids, hyp_mask, max_len: int, n: int, temperature: float = 1.0, generator=None):
        return self.seq2seq.sample(*self.encode(e, e_hat, hyp_ids, hyp_mask), max_len, n, temperature, generator)

    @torch.no_grad()
    def token_logprobs(self, e, e_hat, hyp_ids, hyp_mask) -> torch.Tensor:
        """How the corrector would rewrite each token of the hypothesis in place: log-probabilities
        (B, T + 1, V) of each position's token given the hypothesis' earlier tokens (teacher-forced on the
        hypothesis itself). Where the hypothesis' own token is unlikely, the corrector doubts it."""
        return self.seq2seq.next_token_logprobs(*self.encode(e, e_hat, hyp_ids, hyp_mask), hyp_ids)
