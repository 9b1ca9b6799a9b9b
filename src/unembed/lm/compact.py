"""The compact form of a next-token distribution: hidden-size numbers plus a normaliser.

Finlayson, Ren & Swayamdipta, "Logits of API-Protected LLMs Leak Proprietary Information" (2024):
a softmax LM's log-probabilities are ``l = W h - logsumexp(W h)``, so every output vector lies in a
(d+1)-dimensional subspace of the vocabulary space (the softmax bottleneck). Centring over the
vocabulary removes the normaliser: ``l - mean(l) = (W - mean_rows(W)) h``. Hence

    h = pinv(W_c) (l - mean(l)),   c = mean(l)

is exact (up to float error) and ``l = W_c h + c`` gives the whole vector back. For Gemma 3 270M that
is 640 + 1 numbers for a 262,144-entry distribution.

- :class:`SpanProjection` computes (h, c) for an attacker who knows W (an open-weights target);
- :meth:`SpanProjection.from_outputs` estimates the subspace from d+1 or more observed outputs, as
  Finlayson et al. do for a closed model; its coordinates are an invertible linear map of h, not h.

Deliberate difference: we centre instead of carrying the logsumexp, so the normaliser we keep is the
vocabulary mean of the log-probabilities (a function of h and the logsumexp, equally exact). The
identity fails for a head with a bias or logit soft-capping; targets report ``linear_head``.
"""
from __future__ import annotations

import torch

__all__ = ["SpanProjection"]


class SpanProjection:
    """(N, V) log-probabilities <-> (N, d+1) compact vectors ``[h, c]``."""

    def __init__(self, basis: torch.Tensor, inverse: torch.Tensor):
        self.basis = basis  # (V, d): l - c = basis @ h
        self.inverse = inverse  # (d, V): h = inverse @ (l - c)
        self.dim = basis.shape[1] + 1

    @classmethod
    def from_matrix(cls, w: torch.Tensor) -> "SpanProjection":
        """From the output matrix W (V, d) of an open-weights target."""
        w = w.detach().double()
        wc = w - w.mean(0, keepdim=True)
        q, r = torch.linalg.qr(wc)  # wc = q r, q (V, d) orthonormal
        inverse = torch.linalg.solve_triangular(r, q.T, upper=True)  # r^-1 q^T = pinv(wc)
        return cls(wc.float(), inverse.float())

    @classmethod
    def from_outputs(cls, logprobs: torch.Tensor, dim: int | None = None, tol: float = 1e-5) -> "SpanProjection":
        """From observed log-probability vectors (N, V), N > d: the span of the centred outputs
        (their top right singular vectors; ``dim`` defaults to the numerical rank)."""
        x = logprobs.double()
        x = x - x.mean(-1, keepdim=True)
        _, s, vt = torch.linalg.svd(x, full_matrices=False)
        if dim is None:
            dim = int((s > tol * s[0]).sum())
        basis = vt[:dim].T  # (V, dim), orthonormal
        return cls(basis.float(), basis.T.float())

    def compact(self, logprobs: torch.Tensor) -> torch.Tensor:
        """(..., V) -> (..., d+1): ``[h, c]``; computed in float64 so that the rounding stays below fp16's."""
        lp = logprobs.double()
        c = lp.mean(-1, keepdim=True)
        h = (lp - c) @ self.inverse.double().T
        return torch.cat([h, c], dim=-1).float()

    def expand(self, z: torch.Tensor) -> torch.Tensor:
        """(..., d+1) -> (..., V): the log-probabilities back."""
        h, c = z[..., :-1].double(), z[..., -1:].double()
        return (h @ self.basis.double().T + c).float()
