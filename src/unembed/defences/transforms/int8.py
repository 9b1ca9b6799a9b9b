"""``int8``: per-dimension scalar quantisation to 256 levels, ranges fitted on a corpus sample."""
from __future__ import annotations

import numpy as np

from .base import Defence, relative_error
from .registry import register

__all__ = ["Int8"]


@register
class Int8(Defence):
    """Scalar quantisation: each dimension's range [lo, hi] (fitted) cut into 256 levels. A value
    inside its range comes back within half a step, ``(hi - lo) / 255 / 2``; values outside are
    clipped to the range first."""

    family = "int8"
    spec_form = "int8"
    colour = "#1565c0"
    description = "scalar int8 quantisation, per-dimension ranges fitted on a corpus sample"
    needs_fit = True
    levels = 256

    def fit_array(self, x):
        self.lo = x.min(axis=0)
        hi = x.max(axis=0)
        self.step = np.maximum(hi - self.lo, 1e-12) / (self.levels - 1)
        self.fit_info = {"relative_l2_error_fit": relative_error(x, self.transform(x)),
                         "max_step": float(self.step.max())}

    def codes(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint((x - self.lo) / self.step), 0, self.levels - 1).astype(np.uint8)

    def transform(self, x):
        return self.lo + self.codes(x).astype(np.float64) * self.step
