"""Chroma (embedded, persistent client): ``chroma:///PATH?collection=NAME``."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from . import Batch, StoreError, missing_client


class ChromaReader:
    def __init__(self, uri: str, path: str, query: dict):
        try:
            import chromadb
        except ImportError:
            raise missing_client("chroma", "chromadb") from None
        self.uri = uri
        if not path or not Path(path).exists():
            raise StoreError(f"no Chroma store at '{path}' (from {uri})")
        name = query.get("collection")
        settings = chromadb.config.Settings(anonymized_telemetry=False, allow_reset=False)
        self.client = chromadb.PersistentClient(path=path, settings=settings)
        names = [getattr(c, "name", c) for c in self.client.list_collections()]
        if name is None:
            if len(names) != 1:
                raise StoreError(f"{uri}: name a collection with ?collection=NAME (found: {', '.join(names) or 'none'})")
            name = names[0]
        if name not in names:
            raise StoreError(f"{uri}: no collection '{name}' (found: {', '.join(names) or 'none'})")
        self.collection = self.client.get_collection(name)

    def count(self) -> int:
        return self.collection.count()

    def batches(self, batch_size: int = 256) -> Iterator[Batch]:
        offset = 0
        while True:
            got = self.collection.get(limit=batch_size, offset=offset, include=["embeddings", "documents"])
            ids = list(got["ids"])
            if not ids:
                return
            docs = got.get("documents")
            yield Batch(ids=ids, vectors=np.asarray(got["embeddings"], dtype=np.float32),
                        documents=list(docs) if docs is not None else None)
            offset += len(ids)
