"""``mask:FRACTION``: a secret, seeded set of dimensions set to zero."""
from __future__ import annotations

import numpy as np

from ...errors import InputError
from .base import LEAST_SQUARES, Defence, check_number, check_seed
from .registry import register

__all__ = ["Mask"]


@register
class Mask(Defence):
    """A secret, seeded set of ``round(fraction * d)`` dimensions set to zero, in stored vectors and
    (to the same effect) queries. ``mask:F`` takes the *fraction* masked, 0 <= F < 1."""

    family = "mask"
    spec_form = "mask:FRACTION"
    spec_param = "fraction"
    colour = "#f9a825"
    description = "{d.percent:g}% of the dimensions (a secret seeded choice) set to zero"
    attack = LEAST_SQUARES
    strength_name = "fraction masked"

    def __init__(self, fraction: float, seed: int = 0):
        super().__init__()
        self.fraction = check_number(fraction, "mask fraction", low=0.0)
        if not self.fraction < 1.0:
            raise InputError(f"the fraction of dimensions masked must be in [0, 1), not {fraction:g} "
                             "(mask:0.5 masks half of them)")
        self.seed = check_seed(seed, self.family)

    @property
    def percent(self) -> float:
        return 100 * self.fraction

    @property
    def strength(self) -> float:
        return self.fraction

    def dims(self, d: int) -> np.ndarray:
        """The masked dimensions for vectors of dimension ``d``, sorted."""
        count = int(round(self.fraction * d))
        return np.sort(np.random.default_rng([self.seed, 202, d]).permutation(d)[:count])

    def transform(self, x):
        out = x.copy()
        out[:, self.dims(x.shape[1])] = 0.0
        return out

    transform_queries = transform

    def details(self):
        return {"fraction": self.fraction, "seed": self.seed}
