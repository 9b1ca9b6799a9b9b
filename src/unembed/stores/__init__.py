"""Read-only readers for vector stores, addressed by URI.

``open_store(uri)`` returns a reader whose ``batches(batch_size)`` yields :class:`Batch` objects of
ids, vectors and (when the store holds them) documents. Readers never write to a store.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol
from urllib.parse import parse_qs, urlparse

import numpy as np

from ..errors import InputError, UnembedError


@dataclass
class Batch:
    ids: list[str]
    vectors: np.ndarray
    documents: list[str | None] | None = None


class StoreReader(Protocol):
    uri: str

    def count(self) -> int: ...
    def batches(self, batch_size: int = 256) -> Iterator[Batch]: ...


class StoreError(UnembedError):
    """A store could not be opened or read."""


def missing_client(extra: str, module: str) -> StoreError:
    return StoreError(f"the {extra} store needs the '{module}' client: pip install 'unembed[{extra}]'")


def open_store(uri: str) -> StoreReader:
    parsed = urlparse(uri)
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    scheme = parsed.scheme.lower()
    if scheme == "chroma":
        from .chroma import ChromaReader

        return ChromaReader(uri, parsed.path, query)
    raise InputError(f"unknown store URI '{uri}': supported schemes are chroma://")
