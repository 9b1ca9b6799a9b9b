"""A toy embedder adapter in one file: ``hash:D`` embeds a text as a seeded random unit vector of
dimension D (the same text, the same vector). It registers with the embedder registry only."""
from __future__ import annotations

import hashlib

import numpy as np

from unembed.embedders import Adapter, Embedder, register


class HashEmbedder(Embedder):
    def __init__(self, dim: int, batch_size: int = 64):
        super().__init__(f"hash:{dim}", dim=dim, pooling="none", normalize=True, cased=True, batch_size=batch_size)

    def _embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for t in texts:
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)


register(Adapter(
    kind="hash", describe="hash:D (toy)", options=frozenset({"batch_size"}), priority=40,
    matches=lambda spec: isinstance(spec, str) and spec.startswith("hash:") and spec[5:].isdigit(),
    load=lambda spec, options: HashEmbedder(int(spec[5:]), **options),
))
