"""Qdrant: local mode ``qdrant:///PATH?collection=NAME`` and a server ``qdrant+http://HOST:PORT?collection=NAME``.

Parameters: ``collection`` (needed when there are several), ``vector`` (the named vector to read when
the collection has several), ``text`` (the payload key holding the document; default: the first of
document, text, page_content, content, chunk, body, passage that the points carry), ``api_key`` (a
server's key; else ``QDRANT_API_KEY``). Local mode is read from a private copy (the client has no
read-only mode); a server is only ever sent read requests (collection info, count, scroll).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator
from urllib.parse import urlunparse

import numpy as np

from ...errors import InputError
from .base import (
    BaseReader,
    Batch,
    StoreError,
    as_text,
    check_params,
    choose,
    missing_client,
    pick_document,
    redact,
    uri_path,
)
from .registry import register

PARAMS = ("collection", "vector", "text", "api_key")


class QdrantReader(BaseReader):
    kind = "qdrant"
    label = "Qdrant local mode"

    def __init__(self, uri: str, query: dict, path: Path | None = None, url: str | None = None):
        super().__init__(uri)
        check_params(uri, query, PARAMS)
        try:
            from qdrant_client import QdrantClient
        except ImportError:
            raise missing_client("qdrant", "qdrant-client") from None
        try:
            if path is not None:
                path = Path(path)
                if not path.is_dir() or not (path / "collection").is_dir():
                    raise StoreError(f"no Qdrant local store at '{path}' (a folder holding collection/), from {uri}")
                self.client = QdrantClient(path=str(self._copy_collection(path, query.get("collection"))))
                where = str(path)
            else:
                self.kind = "qdrant server"
                self.client = QdrantClient(url=url, api_key=query.get("api_key") or os.environ.get("QDRANT_API_KEY"),
                                           timeout=30, check_compatibility=False)
                where = url
            names = sorted(c.name for c in self.client.get_collections().collections)
            name = choose(uri, names, query.get("collection"), "collection")
            self.name = name
            params = self.client.get_collection(name).config.params
            self.vector_name = self._vector_name(params.vectors, query.get("vector"))
        except StoreError:
            self.close()
            raise
        except Exception as exc:  # connection refused, corrupt storage, incompatible server
            self.close()
            raise StoreError(f"Qdrant cannot read {where}: {' '.join(str(exc).split())[:300]}") from None
        self.text_key = query.get("text")

    def _copy_collection(self, path: Path, wanted: str | None) -> Path:
        """A private copy of only the collection read (its folder, and a meta.json naming only it), or
        of the whole store when its meta.json cannot be read."""
        try:
            meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
            names = sorted(meta["collections"])
        except (OSError, ValueError, KeyError, TypeError):
            return self.private_copy(path)
        name = choose(self.uri, names, wanted, "collection")
        if not (path / "collection" / name).is_dir():
            return self.private_copy(path)
        copy = self.private_copy(path, only=[f"collection/{name}"])
        aliases = {k: v for k, v in (meta.get("aliases") or {}).items() if v == name}
        (copy / "meta.json").write_text(json.dumps({**meta, "collections": {name: meta["collections"][name]},
                                                    "aliases": aliases}), encoding="utf-8")
        return copy

    def _vector_name(self, vectors, wanted: str | None) -> str | None:
        if isinstance(vectors, dict):
            wanted = choose(self.uri, sorted(vectors), wanted, "named vector", "vector", joiner="&")
            params = vectors[wanted]
        else:
            if wanted not in (None, ""):
                raise StoreError(f"{self.uri}: the collection has one unnamed vector; drop &vector={wanted}")
            params, wanted = vectors, None
        if params is None:
            raise StoreError(f"{self.uri}: the collection holds no dense vectors")
        if getattr(params, "multivector_config", None) is not None:
            raise StoreError(f"{self.uri}: multi-vectors (one matrix per point) are not supported: they are not text embeddings of one text")
        distance = str(getattr(params.distance, "value", params.distance))
        if distance.lower() == "cosine":
            self.notes.append("Qdrant normalises vectors of Cosine collections when they are written: norms are lost "
                              "(inversion works on directions, so this does not protect the text)")
        datatype = str(getattr(getattr(params, "datatype", None), "value", getattr(params, "datatype", None)) or "float32")
        if datatype.lower() == "uint8":
            self.lossy = True
            self.notes.append("the collection stores vectors as uint8: they are coarse approximations of the embeddings")
        elif datatype.lower() == "float16":
            self.notes.append("the collection stores vectors as float16 (a negligible loss for inversion)")
        return wanted

    def count(self) -> int:
        return int(self.client.count(self.name, exact=True).count)

    def batches(self, batch_size: int = 256) -> Iterator[Batch]:
        offset = None
        text_key = self.text_key
        decided = text_key is not None
        while True:
            points, offset = self.client.scroll(self.name, limit=batch_size, offset=offset, with_payload=True,
                                                with_vectors=[self.vector_name] if self.vector_name else True)
            if not points:
                return
            if not decided:
                keys = {k for p in points for k in (p.payload or {})}
                text_key, decided = pick_document(keys, None, self.uri), True
            elif self.text_key is not None and not any(self.text_key in (p.payload or {}) for p in points):
                pick_document(points[0].payload or {}, self.text_key, self.uri)  # raises, naming the keys
            vectors = []
            for p in points:
                v = p.vector
                if isinstance(v, dict):
                    v = v.get(self.vector_name) if self.vector_name else next(iter(v.values()), None)
                if v is None:
                    raise StoreError(f"{self.uri}: point {p.id} has no vector{' ' + self.vector_name if self.vector_name else ''}")
                vectors.append(v)
            docs = [as_text((p.payload or {}).get(text_key)) for p in points] if text_key else None
            yield Batch(ids=[str(p.id) for p in points], vectors=np.asarray(vectors, dtype=np.float32), documents=docs)
            if offset is None:
                return

    # -- sampled audits: ids only, then points by id ------------------------------------------------
    fetch_method = "ids"

    def ids(self, batch_size: int = 4096) -> Iterator[list[str]]:
        offset = None
        while True:
            points, offset = self.client.scroll(self.name, limit=batch_size, offset=offset, with_payload=False,
                                                with_vectors=False)
            if points:
                yield [str(p.id) for p in points]
            if not points or offset is None:
                return

    def fetch(self, ids, batch_size: int = 256) -> Iterator[Batch]:
        from .base import in_order

        order = [str(i) for i in ids]
        for start in range(0, len(order), batch_size):
            part = order[start:start + batch_size]
            points = self.client.retrieve(self.name, [int(i) if i.isdigit() else i for i in part], with_payload=True,
                                          with_vectors=[self.vector_name] if self.vector_name else True)
            text_key = self.text_key
            if text_key is None:
                text_key = pick_document({k for p in points for k in (p.payload or {})}, None, self.uri)
            found = {}
            for p in points:
                v = p.vector
                if isinstance(v, dict):
                    v = v.get(self.vector_name) if self.vector_name else next(iter(v.values()), None)
                if v is None:
                    raise StoreError(f"{self.uri}: point {p.id} has no vector")
                found[str(p.id)] = (np.asarray(v, dtype=np.float32),
                                    as_text((p.payload or {}).get(text_key)) if text_key else None)
            yield from in_order(part, found, batch_size, with_docs=text_key is not None)

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            try:
                client.close()
            except Exception:  # pragma: no cover
                pass
            self.client = None
        super().close()


@register("qdrant", "qdrant:///PATH?collection=NAME", "Qdrant local mode, on a private copy", extra="qdrant",
          path_based=True)
def open_qdrant_local(uri: str, parsed, query: dict) -> QdrantReader:
    return QdrantReader(uri, query, path=uri_path(parsed, uri))


@register("qdrant+http", "qdrant+http://HOST:PORT?collection=NAME", "a Qdrant server (scroll API; reads only)",
          extra="qdrant", aliases=("qdrant+https",))
def open_qdrant_server(uri: str, parsed, query: dict) -> QdrantReader:
    scheme = parsed.scheme.lower()
    if not parsed.netloc:
        raise InputError(f"store URI '{redact(uri)}' names no host: write {scheme}://HOST:PORT?collection=NAME")
    url = urlunparse((scheme.split("+", 1)[1], parsed.netloc, parsed.path, "", "", ""))
    return QdrantReader(uri, query, url=url)
