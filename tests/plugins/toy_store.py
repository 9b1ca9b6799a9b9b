"""A toy store reader in one file: ``npy:///VECTORS.npy`` (with ``VECTORS.txt`` as its documents).

It registers its scheme with the store registry and nothing else knows about it."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from unembed.audit.stores import BaseReader, Batch, StoreError, check_params, register, uri_path


class NpyReader(BaseReader):
    kind = "npy"
    label = "a .npy file"

    def __init__(self, uri: str, path: Path, query: dict):
        super().__init__(uri)
        check_params(uri, query, ())
        if not path.is_file():
            raise StoreError(f"no .npy file at '{path}', from {uri}")
        self.vectors = np.load(path, allow_pickle=False)  # read only
        docs = path.with_suffix(".txt")
        self.documents = docs.read_text(encoding="utf-8").splitlines() if docs.exists() else None

    def count(self) -> int:
        return len(self.vectors)

    def batches(self, batch_size: int = 256) -> Iterator[Batch]:
        for start in range(0, len(self.vectors), batch_size):
            end = min(start + batch_size, len(self.vectors))
            yield Batch([str(i) for i in range(start, end)], self.vectors[start:end],
                        None if self.documents is None else self.documents[start:end])


@register("npy", "npy:///FILE.npy", "a NumPy array file (toy reader of the tests)", path_based=True)
def open_npy(uri: str, parsed, query: dict) -> NpyReader:
    return NpyReader(uri, uri_path(parsed, uri), query)
