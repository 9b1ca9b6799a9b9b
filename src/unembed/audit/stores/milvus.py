"""Milvus Lite: ``milvus:///FILE.db?collection=NAME``.

Parameters: ``collection`` (needed when there are several), ``vector`` (the FLOAT_VECTOR field when
there are several), ``text`` (the document field, from the schema or the dynamic fields; default the
first of document, text, page_content, content, chunk, body, passage).

Milvus Lite writes to its database when it opens it and loads a collection (index files, load state),
so the client is pointed at a private copy of the ``.db`` file or folder.

Milvus Lite 3 answers each query-iterator page with a pass over every row of the collection in
Python, so reading costs pages x rows: the reader asks for the largest pages the client allows
(16,384 keys; 2,048 rows with their vectors, re-cut to the caller's batches) rather than the caller's
batch size. Listing the keys of 1M rows in pages of 4,096 took 809 s here (BENCHMARKS.md).
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from .base import DOCUMENT_KEYS, BaseReader, Batch, StoreError, as_text, check_params, choose, missing_client, uri_path
from .registry import register


ID_PAGE = 16_384  # pymilvus' largest query-iterator batch
ROW_PAGE = 2_048  # rows with their vectors: a page of Python lists of floats, about 30 MB at 384 dimensions


class MilvusReader(BaseReader):
    kind = "milvus lite"
    label = "Milvus Lite"

    def __init__(self, uri: str, path: Path | str, query: dict):
        super().__init__(uri)
        check_params(uri, query, ("collection", "vector", "text"))
        try:
            from pymilvus import DataType, MilvusClient
        except ImportError:
            raise missing_client("milvus", "pymilvus") from None
        path = Path(path)
        if not path.exists():
            raise StoreError(f"no Milvus Lite database at '{path}', from {uri}")
        copy = self.private_copy(path)
        self._copy = str(copy)
        try:
            with _quiet():
                self.client = MilvusClient(str(copy))
                names = sorted(self.client.list_collections())
                name = choose(uri, names, query.get("collection"), "collection")
                desc = self.client.describe_collection(name)
                self.client.load_collection(name)
        except StoreError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise StoreError(f"Milvus Lite cannot read {path}: {' '.join(str(exc).split())[:300]}") from None
        self.name = name
        fields = {f["name"]: f for f in desc["fields"]}
        self.pk = next(n for n, f in fields.items() if f.get("is_primary"))
        vec = [n for n, f in fields.items() if f["type"] == DataType.FLOAT_VECTOR]
        other = [n for n, f in fields.items() if "VECTOR" in str(f["type"]) and n not in vec]
        wanted = query.get("vector")
        if wanted is None:
            if len(vec) != 1:
                raise StoreError(f"{uri}: name the vector field with &vector=NAME (float vector fields: {', '.join(vec) or 'none'}"
                                 + (f"; not supported: {', '.join(other)}" if other else "") + ")")
            wanted = vec[0]
        if wanted not in vec:
            raise StoreError(f"{uri}: '{wanted}' is not a float vector field (float vector fields: {', '.join(vec) or 'none'})")
        self.vector = wanted
        self.dynamic = bool(desc.get("enable_dynamic_field"))
        strings = [n for n, f in fields.items() if f["type"] == DataType.VARCHAR]
        text = query.get("text")
        if text is not None and text not in fields and not self.dynamic:
            raise StoreError(f"{uri}: no field '{text}' (fields: {', '.join(fields)})")
        self.text_key = text
        self.text_candidates = [text] if text else [k for k in DOCUMENT_KEYS if k in strings or self.dynamic]

    def count(self) -> int:
        with _quiet():
            return int(self.client.query(self.name, filter="", output_fields=["count(*)"])[0]["count(*)"])

    def _pages(self, output_fields: list[str], batch_size: int) -> Iterator[list[dict]]:
        """The collection's rows (``output_fields`` of each), ``batch_size`` at a time, through one
        query iterator that is closed however the reading ends."""
        with _quiet():
            it = self.client.query_iterator(self.name, batch_size=batch_size, filter="", output_fields=output_fields)
        try:
            while True:
                with _quiet():
                    rows = it.next()
                if not rows:
                    return
                yield rows
        finally:
            with _quiet():
                it.close()

    def batches(self, batch_size: int = 256) -> Iterator[Batch]:
        text = self.text_key
        decided = text is not None
        with contextlib.closing(self._pages(["*"], max(batch_size, ROW_PAGE))) as pages:
            for page in pages:
                if not decided:
                    keys = {k for r in page for k in r}
                    text, decided = next((k for k in self.text_candidates if k in keys), None), True
                for start in range(0, len(page), batch_size):
                    rows = page[start:start + batch_size]
                    vectors = np.asarray([r[self.vector] for r in rows], dtype=np.float32)
                    docs = [as_text(r.get(text)) for r in rows] if text else None
                    yield Batch(ids=[str(r[self.pk]) for r in rows], vectors=vectors, documents=docs)

    # -- sampled audits: primary keys only, then rows by key ------------------------------------------
    fetch_method = "ids"

    def ids(self, batch_size: int = 4096) -> Iterator[list[str]]:
        with contextlib.closing(self._pages([self.pk], max(batch_size, ID_PAGE))) as pages:
            for rows in pages:
                for start in range(0, len(rows), batch_size):
                    yield [str(r[self.pk]) for r in rows[start:start + batch_size]]

    def fetch(self, ids, batch_size: int = 256) -> Iterator[Batch]:
        from .base import in_order

        order = [str(i) for i in ids]
        numeric = self._pk_numeric()
        for start in range(0, len(order), batch_size):
            part = order[start:start + batch_size]
            with _quiet():
                rows = self.client.get(self.name, ids=[int(i) for i in part] if numeric else part, output_fields=["*"])
            keys = {k for r in rows for k in r}
            text = next((k for k in self.text_candidates if k in keys), None)
            found = {str(r[self.pk]): (np.asarray(r[self.vector], dtype=np.float32), as_text(r.get(text)) if text else None)
                     for r in rows}
            yield from in_order(part, found, batch_size, with_docs=text is not None)

    def _pk_numeric(self) -> bool:
        from pymilvus import DataType

        with _quiet():
            desc = self.client.describe_collection(self.name)
        return any(f["name"] == self.pk and f["type"] == DataType.INT64 for f in desc["fields"])

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            try:
                with _quiet():
                    client.close()
            except Exception:  # pragma: no cover
                pass
            self.client = None
        if getattr(self, "_copy", None):
            # Milvus Lite keeps a server per database until the process exits, and flushes the database
            # when it stops: stop it now, before the private copy is deleted
            try:
                from milvus_lite.server_manager import server_manager_instance

                with _quiet():
                    server_manager_instance.release_server(self._copy)
            except Exception:  # pragma: no cover - other milvus-lite versions
                pass
            self._copy = None
        super().close()


class _quiet:
    """pymilvus logs warnings through its own handler; nothing below the CLI may print."""

    def __enter__(self):
        self.loggers = [logging.getLogger(n) for n in ("pymilvus", "milvus_lite")]
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        for lg, level in zip(self.loggers, self.levels):
            lg.setLevel(level)


@register("milvus", "milvus:///FILE.db?collection=NAME", "Milvus Lite, on a private copy", extra="milvus",
          path_based=True)
def open_milvus(uri: str, parsed, query: dict) -> MilvusReader:
    return MilvusReader(uri, uri_path(parsed, uri), query)
