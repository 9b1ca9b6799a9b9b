"""FAISS index files: ``faiss:///FILE.index`` with an optional ``?texts=FILE.jsonl``.

The index is memory-mapped read-only where FAISS can map it (flat codes), else read into memory with
``faiss.read_index`` (the file is only read), and its vectors are reconstructed from the stored codes:

- Flat, HNSW (over Flat) and IVF-Flat hold the vectors exactly; an IVF index gets an in-memory
  direct map (an array when its ids are 0..n-1, a hash table otherwise) so vectors can be looked up;
- PQ, SQ, IVF-PQ/SQ, additive quantisers, LSH and dimension-reducing pre-transforms (PCA) hold
  approximations: the reader sets ``lossy`` and says what the codec is in ``notes``;
- IDMap / IDMap2 wrappers give the ids; otherwise an id is the vector's position (or, for IVF, the
  id it was added with).

``texts=FILE.jsonl`` (a relative path is taken from the index file's folder) maps ids to documents:
one JSON object a line with ``id`` and one of document, text, page_content, content, chunk, body, passage.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .base import DOCUMENT_KEYS, BaseReader, Batch, StoreError, check_params, missing_client, uri_path
from .registry import register

LOSSLESS = ("IndexFlat", "IndexFlatL2", "IndexFlatIP", "IndexFlat1D", "IndexIVFFlat", "IndexIVFFlatDedup",
            "IndexHNSWFlat", "IndexNSGFlat", "IndexRefineFlat")
WRAPPERS = ("IndexIDMap", "IndexIDMap2", "IndexPreTransform", "IndexHNSW", "IndexHNSWFlat", "IndexHNSWPQ",
            "IndexHNSWSQ", "IndexNSG", "IndexNSGFlat", "IndexRefine", "IndexRefineFlat")


class FaissReader(BaseReader):
    kind = "faiss"

    def __init__(self, uri: str, path: Path | str, query: dict):
        super().__init__(uri)
        check_params(uri, query, ("texts",))
        try:
            import faiss
        except ImportError:
            raise missing_client("faiss", "faiss-cpu") from None
        self.faiss = faiss
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"no FAISS index file at '{path}', from {uri}")
        try:
            self.index = _read(faiss, path)
        except RuntimeError as exc:
            hint = " (binary indexes hold bit codes, not float embeddings: not supported)" if "binary" in str(exc).lower() else ""
            raise StoreError(f"FAISS cannot read {path}: {str(exc).strip().splitlines()[-1][:200]}{hint}") from None
        self.kind = f"faiss {type(faiss.downcast_index(self.index)).__name__}"
        self.layers = self._inspect(self.index)
        self.texts = self._read_texts(Path(query["texts"]) if "texts" in query else None, path)
        self._ids, self._positions = self._prepare()

    # -- what the index holds ----------------------------------------------------------------------
    def _inspect(self, index) -> list[str]:
        """Walk the index's layers; set ``lossy`` and ``notes``; return the layer names, outermost first."""
        faiss = self.faiss
        layers, lossy_reasons = [], []
        cur = faiss.downcast_index(index)
        while cur is not None:
            name = type(cur).__name__
            layers.append(name)
            if isinstance(cur, faiss.IndexPreTransform):
                for i in range(cur.chain.size()):
                    vt = faiss.downcast_VectorTransform(cur.chain.at(i))
                    vname = type(vt).__name__
                    if vname == "NormalizationTransform":
                        self.notes.append("vectors are L2-normalised before indexing: norms are lost (directions are not)")
                    elif getattr(vt, "d_out", vt.d_in) < vt.d_in:
                        lossy_reasons.append(f"{vname} reduces dimension {vt.d_in} -> {vt.d_out}")
            if name in WRAPPERS and name not in LOSSLESS:
                pass  # the codec is judged on the storage layer below
            elif isinstance(cur, (faiss.IndexScalarQuantizer, faiss.IndexIVFScalarQuantizer)):
                qtype = _qtype_name(faiss, cur.sq.qtype)
                lossy_reasons.append(f"{name}: scalar-quantised codes ({qtype}, {cur.code_size} bytes per vector "
                                     f"instead of {4 * cur.d})")
            elif "PQ" in name or "Quantizer" in name or "LSH" in name:
                detail = ""
                pq = getattr(cur, "pq", None)
                if pq is not None:
                    detail = f" (M={pq.M} sub-quantisers x {pq.nbits} bits = {pq.code_size} bytes per vector instead of {4 * cur.d})"
                lossy_reasons.append(f"{name}: quantised codes{detail}")
            elif name not in LOSSLESS and name not in WRAPPERS:
                lossy_reasons.append(f"{name}: unknown codec, treated as lossy")
            if isinstance(cur, (faiss.IndexIDMap, faiss.IndexIDMap2, faiss.IndexPreTransform)):
                cur = faiss.downcast_index(cur.index)
            elif isinstance(cur, faiss.IndexRefine):
                cur = faiss.downcast_index(cur.refine_index)  # reconstruct() reads the refinement codes
            elif isinstance(cur, (faiss.IndexHNSW, faiss.IndexNSG)):
                cur = faiss.downcast_index(cur.storage)
            else:
                cur = None
        if lossy_reasons:
            self.lossy = True
            self.notes.append("LOSSY: the index holds approximations of the vectors, not the vectors: "
                              + "; ".join(dict.fromkeys(lossy_reasons)))
        return layers

    def _read_texts(self, texts: Path | None, index_path: Path) -> dict[str, str] | None:
        if texts is None:
            return None
        if not texts.is_absolute() and not texts.exists():
            texts = index_path.parent / texts
        if not texts.is_file():
            raise StoreError(f"{self.uri}: no texts file at '{texts}'")
        out: dict[str, str] = {}
        try:
            with open(texts, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    rec = json.loads(line)
                    key = next((k for k in DOCUMENT_KEYS if k in rec), None)
                    if "id" not in rec or key is None:
                        raise StoreError(f"{texts}:{n}: each line needs 'id' and a text field ({', '.join(DOCUMENT_KEYS)})")
                    out[str(rec["id"])] = str(rec[key])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"cannot read texts file {texts}: {' '.join(str(exc).split())}") from None
        return out

    def _prepare(self):
        """Ids in reading order, and how to get each one's vector: (ids, positions or None)."""
        faiss = self.faiss
        top = faiss.downcast_index(self.index)
        n = top.ntotal
        if isinstance(top, (faiss.IndexIDMap, faiss.IndexIDMap2)):
            ids = faiss.vector_to_array(top.id_map).astype(np.int64)
            self._target = faiss.downcast_index(top.index)
            self._direct_map(self._target, sequential=True)
            return ids, np.arange(n, dtype=np.int64)
        self._target = top
        ivf = _ivf(faiss, top)
        if ivf is not None:
            ids = _ivf_ids(faiss, ivf)
            sequential = len(ids) == n and np.array_equal(np.sort(ids), np.arange(n))
            self._direct_map(top, sequential)
            if sequential:
                return np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)
            return np.sort(ids), None
        return np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)

    def _direct_map(self, index, sequential: bool) -> None:
        ivf = _ivf(self.faiss, index)
        if ivf is None:
            return
        if sequential:
            ivf.make_direct_map(True)
        else:
            ivf.set_direct_map_type(self.faiss.DirectMap.Hashtable)

    # -- reading -----------------------------------------------------------------------------------
    def count(self) -> int:
        return int(len(self._ids))

    def _batch(self, ids, reconstruct: Callable[[], np.ndarray]) -> Batch:
        """The Batch of these ids, their vectors from ``reconstruct()`` (a FAISS error as one line)."""
        try:
            vectors = reconstruct()
        except RuntimeError as exc:
            raise StoreError(f"FAISS index {self.kind} cannot give back its vectors: "
                             f"{str(exc).strip().splitlines()[-1][:200]}") from None
        sid = [str(int(i)) for i in ids]
        docs = [self.texts.get(i) for i in sid] if self.texts is not None else None
        return Batch(ids=sid, vectors=np.ascontiguousarray(vectors, dtype=np.float32), documents=docs)

    def batches(self, batch_size: int = 256) -> Iterator[Batch]:
        for start in range(0, len(self._ids), batch_size):
            ids = self._ids[start:start + batch_size]
            if self._positions is not None:
                pos = self._positions[start:start + batch_size]
                yield self._batch(ids, lambda: self._target.reconstruct_n(int(pos[0]), len(pos)))
            else:
                yield self._batch(ids, lambda: np.stack([self._target.reconstruct(int(i)) for i in ids]))

    positional = True

    def read_positions(self, positions, batch_size: int = 256) -> Iterator[Batch]:
        """Only the rows at these positions (a sampled audit): each vector reconstructed on its own."""
        positions = np.asarray(positions, dtype=np.int64)
        for start in range(0, len(positions), batch_size):
            pos = positions[start:start + batch_size]
            ids = self._ids[pos]
            keys = self._positions[pos] if self._positions is not None else ids
            yield self._batch(ids, lambda: np.stack([self._target.reconstruct(int(k)) for k in keys]) if len(keys)
                              else np.zeros((0, self._target.d), np.float32))


def _read(faiss, path: Path):
    """The index, memory-mapped read-only where FAISS can (flat codes: Flat, PQ, SQ...), so opening a
    big index costs no memory and a sampled audit touches only the pages of the rows it reads; else
    read into memory."""
    flags = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) | getattr(faiss, "IO_FLAG_READ_ONLY", 0)
    if flags:
        try:
            return faiss.read_index(str(path), flags)
        except RuntimeError:
            pass  # an index type FAISS cannot map
    return faiss.read_index(str(path))


def _ivf(faiss, index):
    try:
        return faiss.extract_index_ivf(index)
    except (RuntimeError, AttributeError, TypeError):
        return None


def _ivf_ids(faiss, ivf) -> np.ndarray:
    lists = ivf.invlists
    parts = []
    for l in range(ivf.nlist):
        size = lists.list_size(l)
        if size:
            ptr = lists.get_ids(l)
            parts.append(faiss.rev_swig_ptr(ptr, size).copy())
            lists.release_ids(l, ptr)
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def _qtype_name(faiss, qtype: int) -> str:
    for name in dir(faiss.ScalarQuantizer):
        if name.startswith("QT_") and getattr(faiss.ScalarQuantizer, name) == qtype:
            return name[3:]
    return f"qtype {qtype}"


@register("faiss", "faiss:///FILE.index?texts=FILE.jsonl", "a FAISS index file (Flat, HNSW, IVF; PQ/SQ flagged lossy)",
          extra="faiss", path_based=True)
def open_faiss(uri: str, parsed, query: dict) -> FaissReader:
    return FaissReader(uri, uri_path(parsed, uri), query)
