"""``ldp:EPSILON``: the Laplace mechanism, epsilon-local differential privacy of every stored vector.

The Laplace mechanism (Dwork & Roth, "The Algorithmic Foundations of Differential Privacy", 2014,
Theorem 3.6) releases ``M(e) = clip(e) + Lap(0, b)^d`` with ``b = Delta / epsilon``. ``clip`` scales a
vector down to L1 norm at most ``C``; any two clipped vectors then differ by at most ``Delta = 2C`` in
L1 norm, which is the sensitivity assumed, so every stored vector is epsilon-DP on its own (local DP:
no trusted curator). ``C`` defaults to ``sqrt(d)``, the largest L1 norm of a vector of L2 norm 1, so
unit-normalised embeddings (MiniLM's) pass unclipped and ``b = 2 sqrt(d) / epsilon`` (4.9 per
coordinate for d = 384, epsilon = 8). Whole-vector epsilon-LDP in hundreds of dimensions needs very
large epsilon to keep any utility; papers that report small losses often clip each coordinate and
account per coordinate, which is a much weaker guarantee.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import InputError
from .base import Defence, check_number, check_seed, fmt
from .registry import register

__all__ = ["LaplaceLDP"]


@register
class LaplaceLDP(Defence):
    """The Laplace mechanism for epsilon-local differential privacy; see the module docstring for the
    sensitivity: ``clip(e) + Lap(0, 2C / epsilon)^d`` with ``clip`` to L1 norm ``C`` (default sqrt(d))."""

    family = "ldp"
    spec_form = "ldp:EPSILON"
    spec_param = "epsilon"
    colour = "#8e24aa"
    description = ("Laplace mechanism, epsilon = {d.epsilon:g} per vector: L1 clip to C = {d.clip_name}, "
                   "noise Lap(2C / epsilon) per dimension; queries unchanged")
    deterministic = False
    strength_name = "1 / epsilon"

    def __init__(self, epsilon: float, clip: float | None = None, seed: int = 0):
        super().__init__()
        self.epsilon = check_number(epsilon, "ldp epsilon", low=0.0)
        if self.epsilon <= 0:
            raise InputError(f"the ldp epsilon must be > 0, not {epsilon:g}")
        self.clip = None if clip is None else check_number(clip, "L1 clipping norm", low=0.0)
        if self.clip is not None and self.clip <= 0:
            raise InputError("the L1 clipping norm of ldp must be > 0")
        self.seed = check_seed(seed, self.family)
        self.rng = np.random.default_rng([self.seed, 404])

    @property
    def strength(self) -> float:
        return 1.0 / self.epsilon

    @property
    def clip_name(self) -> str:
        """The clipping norm as reported: ``sqrt(d)`` by default, else its value."""
        return "sqrt(d)" if self.clip is None else fmt(self.clip)

    def clip_norm(self, d: int) -> float:
        return self.clip if self.clip is not None else math.sqrt(d)

    def sensitivity(self, d: int) -> float:
        """L1 sensitivity: the largest L1 distance between two clipped vectors, 2C."""
        return 2.0 * self.clip_norm(d)

    def laplace_scale(self, d: int) -> float:
        return self.sensitivity(d) / self.epsilon

    def clipped(self, x: np.ndarray) -> np.ndarray:
        c = self.clip_norm(x.shape[1])
        l1 = np.abs(x).sum(axis=1, keepdims=True)
        return x * np.minimum(1.0, c / np.maximum(l1, 1e-300))

    def transform(self, x):
        return self.clipped(x) + self.rng.laplace(0.0, self.laplace_scale(x.shape[1]), x.shape)

    def transform_for_attacker(self, x):
        return self.clipped(x)  # the mechanism's expectation

    def details(self):
        d = self.dim
        out = {"epsilon": self.epsilon, "clip_l1": "sqrt(d)" if self.clip is None else self.clip,
               "sensitivity_l1": "2C", "seed": self.seed}
        if d:
            out.update(clip_l1_value=self.clip_norm(d), laplace_scale=self.laplace_scale(d))
        return out
