"""Chroma (embedded, persistent client): ``chroma:///PATH?collection=NAME``.

Chroma has no read-only mode (opening a store may migrate its SQLite file or checkpoint its
write-ahead log), so the client is pointed at a private copy of the folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from .base import BaseReader, Batch, StoreError, check_params, choose, missing_client, uri_path
from .registry import register


class ChromaReader(BaseReader):
    kind = "chroma"
    label = "Chroma"

    def __init__(self, uri: str, path: Path | str, query: dict):
        super().__init__(uri)
        check_params(uri, query, ("collection",))
        try:
            import chromadb
        except ImportError:
            raise missing_client("chroma", "chromadb") from None
        path = Path(path)
        if not path.is_dir() or not (path / "chroma.sqlite3").exists():
            raise StoreError(f"no Chroma store at '{path}' (a folder holding chroma.sqlite3), from {uri}")
        copy = self.private_copy(path)
        try:
            settings = chromadb.config.Settings(anonymized_telemetry=False, allow_reset=False)
            self.client = chromadb.PersistentClient(path=str(copy), settings=settings)
            names = sorted(getattr(c, "name", c) for c in self.client.list_collections())
            name = choose(uri, names, query.get("collection"), "collection")
            self.collection = self.client.get_collection(name)
        except StoreError:
            self.close()
            raise
        except Exception as exc:  # the client's own errors: corrupt or incompatible store
            self.close()
            raise StoreError(f"Chroma cannot read {path}: {' '.join(str(exc).split())}") from None
        self.name = name

    def count(self) -> int:
        return int(self.collection.count())

    def batches(self, batch_size: int = 256) -> Iterator[Batch]:
        offset = 0
        while True:
            got = self.collection.get(limit=batch_size, offset=offset, include=["embeddings", "documents"])
            ids = [str(i) for i in got["ids"]]
            if not ids:
                return
            docs = got.get("documents")
            yield Batch(ids=ids, vectors=np.asarray(got["embeddings"], dtype=np.float32),
                        documents=list(docs) if docs is not None else None)
            offset += len(ids)

    # -- sampled audits: ids only, then records by id ----------------------------------------------
    fetch_method = "ids"

    def ids(self, batch_size: int = 4096) -> Iterator[list[str]]:
        offset = 0
        while True:
            got = self.collection.get(limit=batch_size, offset=offset, include=[])
            ids = [str(i) for i in got["ids"]]
            if not ids:
                return
            yield ids
            offset += len(ids)

    def fetch(self, ids, batch_size: int = 256) -> Iterator[Batch]:
        from .base import in_order

        order = [str(i) for i in ids]
        for start in range(0, len(order), batch_size):
            part = order[start:start + batch_size]
            got = self.collection.get(ids=part, include=["embeddings", "documents"])
            docs = got.get("documents")
            found = {str(i): (np.asarray(v, dtype=np.float32), docs[k] if docs is not None else None)
                     for k, (i, v) in enumerate(zip(got["ids"], got["embeddings"]))}
            yield from in_order(part, found, batch_size, with_docs=docs is not None)

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            try:
                client.clear_system_cache()
            except Exception:  # pragma: no cover - older/newer clients
                pass
            self.client = self.collection = None
        super().close()


@register("chroma", "chroma:///PATH?collection=NAME", "Chroma persistent client, on a private copy", extra="chroma",
          path_based=True)
def open_chroma(uri: str, parsed, query: dict) -> ChromaReader:
    return ChromaReader(uri, uri_path(parsed, uri), query)
