"""``pq:MxBITS``: product quantisation with faiss (Jegou, Douze & Schmid, IEEE TPAMI 2011)."""
from __future__ import annotations

import re

import numpy as np

from ...errors import InputError
from .base import Defence, check_integer, relative_error
from .registry import register

__all__ = ["ProductQuantization"]

_FORM = re.compile(r"^(\d+)x(\d+)$")


@register
class ProductQuantization(Defence):
    """Product quantisation (Jegou, Douze & Schmid, "Product quantization for nearest neighbor
    search", IEEE TPAMI 2011) with faiss: the vector is cut into ``m`` sub-vectors, each replaced by
    the nearest of ``2**nbits`` centroids learnt by k-means on a corpus sample. Queries stay exact
    (asymmetric distance computation)."""

    family = "pq"
    spec_form = "pq:MxBITS"
    colour = "#2e7d32"
    description = "product quantisation, {d.m} sub-vectors x {d.nbits} bits ({d.bits} bits a vector)"
    needs_fit = True

    def __init__(self, m: int, nbits: int = 8):
        super().__init__()
        self.m = check_integer(m, "number of PQ sub-vectors", low=1)
        self.nbits = check_integer(nbits, "PQ bits per sub-vector", low=1)
        if self.nbits > 16:
            raise InputError(f"use at most 16 bits per PQ sub-vector, not {nbits}")

    @classmethod
    def spec_params(cls, arg: str) -> dict:
        found = _FORM.match(arg)
        if not found:
            raise ValueError(arg)
        return {"m": int(found.group(1)), "nbits": int(found.group(2))}

    @property
    def spec_argument(self) -> str:
        return f"{self.m}x{self.nbits}"

    @property
    def bits(self) -> int:
        """Bits a stored vector."""
        return self.m * self.nbits

    @property
    def strength(self) -> float:
        return -float(self.bits)  # fewer bits: stronger

    def fit_array(self, x):
        try:
            import faiss
        except ImportError:
            raise InputError("the pq defence needs faiss: pip install 'unembed[faiss]' (faiss-cpu)") from None
        d = x.shape[1]
        if d % self.m:
            raise InputError(f"{self.spec}: the dimension {d} is not divisible by {self.m} sub-vectors; "
                             f"choose m among {', '.join(str(k) for k in range(1, d + 1) if d % k == 0 and k <= 64)}")
        k = 2 ** self.nbits
        if len(x) < k:
            raise InputError(f"{self.spec} needs at least {k} vectors to fit its {k} centroids, got {len(x)}: "
                             "fit it on more texts or use fewer bits")
        self.pq = faiss.ProductQuantizer(d, self.m, self.nbits)
        self.pq.cp.seed = 1234
        # faiss asks for 39 points per centroid and prints a warning below that; say it here instead.
        self.pq.cp.min_points_per_centroid = 1
        self.pq.train(np.ascontiguousarray(x, dtype=np.float32))
        self.fit_info = {"relative_l2_error_fit": relative_error(x, self.transform(x)), "fit_vectors": len(x)}
        if len(x) < 39 * k:
            self.fit_info["note"] = (f"fitted on {len(x)} vectors, fewer than the {39 * k} faiss recommends for "
                                     f"{k} centroids: the reconstruction error is optimistic on the fit sample")

    def transform(self, x):
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        return self.pq.decode(self.pq.compute_codes(x32)).astype(np.float64)
