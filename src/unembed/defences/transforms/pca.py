"""``pca:K``: projection on the top K principal components (fitted), back in R^d."""
from __future__ import annotations

import numpy as np

from ...errors import InputError
from .base import Defence, check_integer, relative_error
from .registry import register

__all__ = ["PCA"]


@register
class PCA(Defence):
    """Truncation to the top ``k`` principal components (fitted on a corpus sample):
    ``mu + (e - mu) V_k V_k^T``. Storing the k coefficients is equivalent given the basis; queries
    need no change (``<q, mu + P(e - mu)>`` ranks as ``<Pq, P(e - mu)>``)."""

    family = "pca"
    spec_form = "pca:K"
    spec_param = "k"
    spec_type = int
    colour = "#ef6c00"
    description = "projection on the top {d.k} principal components (fitted on a corpus sample)"
    needs_fit = True

    def __init__(self, k: int):
        super().__init__()
        self.k = check_integer(k, "number of PCA components", low=1)

    @property
    def strength(self) -> float:
        return -float(self.k)

    def fit_array(self, x):
        n, d = x.shape
        if self.k > d:
            raise InputError(f"{self.spec}: k = {self.k} is more than the dimension {d}; use pca:K with K <= {d}")
        self.mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        self.components = vt[: self.k]  # (k, d), orthonormal rows
        var = s ** 2
        self.fit_info = {"explained_variance_fit": float(var[: self.k].sum() / max(var.sum(), 1e-300)),
                         "relative_l2_error_fit": relative_error(x, self.transform(x)), "fit_vectors": n}

    def transform(self, x):
        return self.mean + ((x - self.mean) @ self.components.T) @ self.components
