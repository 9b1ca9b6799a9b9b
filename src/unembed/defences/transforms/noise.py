"""``noise:SCALE``: Gaussian noise added to stored vectors (Morris et al., EMNLP 2023, section 8)."""
from __future__ import annotations

import numpy as np

from .base import Defence, check_number, check_seed
from .registry import register

__all__ = ["GaussianNoise"]


@register
class GaussianNoise(Defence):
    """``e + scale * N(0, I)``, fresh noise on every call (Morris et al., EMNLP 2023, Table 7)."""

    family = "noise"
    spec_form = "noise:SCALE"
    spec_param = "scale"
    colour = "#c62828"
    description = "Gaussian noise e + {d.scale:g} * N(0, I) added to stored vectors; queries unchanged"
    deterministic = False
    strength_name = "scale"

    def __init__(self, scale: float, seed: int = 0):
        super().__init__()
        self.scale = check_number(scale, "noise scale", low=0.0)
        self.seed = check_seed(seed, self.family)
        self.rng = np.random.default_rng([self.seed, 101])

    @property
    def strength(self) -> float:
        return self.scale

    def transform(self, x):
        return x + self.scale * self.rng.standard_normal(x.shape)

    def transform_for_attacker(self, x):
        return x  # zero-mean noise: the clean vector is its expectation

    def details(self):
        return {"scale": self.scale, "seed": self.seed}
