"""``rotate:SEED``: a random orthogonal rotation from a secret seed, of stored vectors and queries."""
from __future__ import annotations

import numpy as np

from .base import LEAST_SQUARES, Defence, check_seed
from .registry import register

__all__ = ["Rotation", "haar_orthogonal"]


def haar_orthogonal(d: int, seed: int) -> np.ndarray:
    """A (d, d) orthogonal matrix drawn uniformly (Haar measure) from ``seed``: QR of a Gaussian
    matrix with the signs of R's diagonal moved into Q (Mezzadri, "How to generate random matrices
    from the classical compact groups", Notices of the AMS, 2007)."""
    g = np.random.default_rng([seed, 303, d]).standard_normal((d, d))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diag(r))


@register
class Rotation(Defence):
    """``e @ Q`` with Q orthogonal from a secret seed; queries are rotated too, so every inner
    product, norm and search result is unchanged."""

    family = "rotate"
    spec_form = "rotate:SEED"
    spec_param = "seed"
    spec_type = int
    colour = "#00897b"
    description = "random orthogonal rotation (secret seed) of stored vectors and queries"
    attack = LEAST_SQUARES

    def __init__(self, seed: int):
        super().__init__()
        self.seed = check_seed(seed, self.family)
        self._q: dict[int, np.ndarray] = {}

    def matrix(self, d: int) -> np.ndarray:
        if d not in self._q:
            self._q[d] = haar_orthogonal(d, self.seed)
        return self._q[d]

    def transform(self, x):
        return x @ self.matrix(x.shape[1])

    transform_queries = transform

    def details(self):
        return {"seed": "secret (given on the command line)"}
