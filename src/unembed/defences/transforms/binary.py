"""``binary``: one bit per dimension, searched by Hamming distance."""
from __future__ import annotations

import math

import numpy as np

from .base import Defence
from .registry import register

__all__ = ["Binary"]


@register
class Binary(Defence):
    """One bit per dimension: ``sign(e) / sqrt(d)`` (zero counts as positive). Queries are binarised
    too, so that search is by Hamming distance: ``<b(q), b(e)> = 1 - 2 * hamming / d``."""

    family = "binary"
    spec_form = "binary"
    colour = "#5c6bc0"
    description = "binary quantisation: sign of each dimension (1 bit), Hamming search"

    def transform(self, x):
        return np.where(x >= 0, 1.0, -1.0) / math.sqrt(x.shape[1])

    transform_queries = transform
