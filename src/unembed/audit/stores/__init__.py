"""Read-only readers for vector stores, addressed by URI: one reader a module, found by scheme.

``open_store(uri)`` returns a reader whose ``batches(batch_size)`` yields :class:`Batch` objects of
ids, vectors and (when the store holds them) documents. Readers never write to a store. The
schemes (``uri_forms()``; each reader module documents its own):

- ``chroma:///PATH?collection=NAME``: Chroma persistent client, on a private copy
- ``qdrant:///PATH?collection=NAME``, ``qdrant+http://HOST:PORT?collection=NAME``: Qdrant local mode
  (private copy) or a server (scroll API; reads only)
- ``lancedb:///PATH?table=NAME``: LanceDB, in place (its files are immutable)
- ``faiss:///FILE.index?texts=FILE.jsonl``: a FAISS index file, read into memory
- ``postgresql://USER@HOST:PORT/DB?table=T&column=C...``: pgvector, read-only transaction, server cursor
- ``milvus:///FILE.db?collection=NAME``: Milvus Lite, on a private copy

Adding a store is adding one module here that registers its scheme (``registry.register``).
Layer rule: readers import only their client, numpy and ``base``; nothing here writes.
"""
from .base import (DOCUMENT_KEYS, BaseReader, Batch, StoreError, StoreReader, as_text, check_params, choose,
                   missing_client, pick_document, private_copies_under, redact, sweep_private_copies, uri_path)
from .registry import Scheme, check_uri, open_store, register, schemes, uri_forms

__all__ = ["Batch", "BaseReader", "StoreError", "StoreReader", "open_store", "redact", "DOCUMENT_KEYS", "register",
           "schemes", "uri_forms", "Scheme", "as_text", "check_params", "choose", "missing_client", "pick_document",
           "uri_path", "check_uri", "private_copies_under", "sweep_private_copies"]
