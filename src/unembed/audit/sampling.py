"""Which records an audit inverts, and in what chunks: all of them, or a seeded uniform sample.

The sample of ``n`` records is the ``n`` records with the smallest *keys*, where a record's key is a
seeded 64-bit hash (splitmix64 of its position in the store's reading order for stores read by
position, BLAKE2b of its id for the others). So:

- it is a uniform sample without replacement (every set of ``n`` records is equally likely);
- the same seed gives the same sample of the same store;
- the sample of ``n`` is contained in the sample of ``m > n`` with the same seed, so ``--resume``
  with a larger ``--sample`` *extends* a sample and inverts only the new records;
- it is drawn in one pass over keys with ``O(n)`` memory: over positions without reading the
  store (FAISS, LanceDB), over ids only (Chroma, Qdrant, pgvector, Milvus Lite list ids without
  vectors); then only the sampled rows are read (:meth:`Selection.chunks`).

The selected records, in reading order, are cut into chunks of ``chunk`` records; a chunk is the
unit of inversion, writing and sharding: with ``world`` processes, rank ``r`` inverts the chunks
``k`` with ``k % world == r``. Since every chunk holds the same records whatever the number of
processes, a sharded audit inverts exactly the batches a single process would, and its merged
results equal the single-process ones record for record.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np

__all__ = ["Selection", "Item", "position_keys", "id_keys", "sample_positions"]

_M1, _M2, _GOLDEN = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)
_BLOCK = 1 << 20  # positions keyed at a time


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x += _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def position_keys(positions, seed: int) -> np.ndarray:
    """The sample keys of these positions (uint64)."""
    salt = _splitmix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    return _splitmix(np.asarray(positions, dtype=np.uint64) ^ salt)


def id_keys(ids, seed: int) -> np.ndarray:
    """The sample keys of these record ids (uint64)."""
    key = hashlib.blake2b(str(seed).encode(), digest_size=16).digest()
    return np.array([int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8, key=key).digest(), "little")
                     for i in ids], dtype=np.uint64)


class _Smallest:
    """The ``n`` smallest keys seen so far, with their positions (and ids)."""

    def __init__(self, n: int):
        self.n = n
        self.keys = np.zeros(0, np.uint64)
        self.pos = np.zeros(0, np.int64)
        self.ids: list[str] | None = None

    def add(self, keys: np.ndarray, pos: np.ndarray, ids: list[str] | None = None) -> None:
        keys = np.concatenate([self.keys, keys])
        pos = np.concatenate([self.pos, pos])
        allids = None if ids is None else (self.ids or []) + list(ids)
        if len(keys) > self.n:
            keep = np.argpartition(keys, self.n - 1)[: self.n]
            keys, pos = keys[keep], pos[keep]
            if allids is not None:
                allids = [allids[i] for i in keep]
        self.keys, self.pos, self.ids = keys, pos, allids

    def sorted(self) -> tuple[np.ndarray, list[str] | None]:
        order = np.argsort(self.pos, kind="stable")
        return self.pos[order], None if self.ids is None else [self.ids[i] for i in order]


def sample_positions(universe: int, n: int, seed: int) -> np.ndarray:
    """The sampled positions among ``0..universe-1``, ascending (no store read)."""
    best = _Smallest(n)
    for start in range(0, universe, _BLOCK):
        pos = np.arange(start, min(universe, start + _BLOCK), dtype=np.int64)
        best.add(position_keys(pos, seed), pos)
    return best.sorted()[0]


@dataclass
class Item:
    """One selected record: its position in the reading order, id, vector and document."""

    pos: int
    id: str
    vector: np.ndarray
    document: str | None


class Selection:
    """The records an audit inverts: all of the first ``universe`` records, or a sample of ``sample``.

    ``method`` says how they are read: ``all`` (a scan), ``positions`` (the sampled rows only, by
    position), ``ids`` (ids listed, then the sampled records fetched by id) or ``scan`` (ids listed and
    the sampled records picked out of a scan, for readers that cannot fetch by id)."""

    def __init__(self, reader, universe: int, sample: int | None, seed: int, chunk: int, read_batch: int = 256):
        self.reader, self.universe, self.seed, self.chunk, self.read_batch = reader, universe, seed, chunk, read_batch
        self.random = sample is not None and sample < universe
        self.size = sample if self.random else universe
        self.positions: np.ndarray | None = None
        self.ids: list[str] | None = None
        if not self.random:
            self.method = "all"
        elif getattr(reader, "positional", False):
            self.method = "positions"
        else:
            self.method = "ids" if getattr(reader, "fetch_method", "scan") == "ids" else "scan"

    def describe(self) -> str:
        return {"all": "every record (a scan of the store)" if self.size == self.universe else
                       f"the first {self.universe} records of the store's reading order (not a random sample)",
                "positions": "a seeded uniform sample, keyed and read by position (only the sampled rows are read)",
                "ids": "a seeded uniform sample, keyed by id (ids listed, then only the sampled records fetched)",
                "scan": "a seeded uniform sample, keyed by id (picked out of a scan: the reader cannot fetch by id)",
                }[self.method]

    # -- drawing -----------------------------------------------------------------------------------
    def draw(self) -> None:
        """Draw the sample (a no-op for ``all``); called by :meth:`chunks` when needed."""
        if self.method == "all" or self.positions is not None:
            return
        if self.method == "positions":
            self.positions = sample_positions(self.universe, self.size, self.seed)
            return
        best = _Smallest(self.size)
        pos = 0
        for page in self.reader.ids(4096):
            page = page[: self.universe - pos]
            if not page:
                break
            best.add(id_keys(page, self.seed), np.arange(pos, pos + len(page), dtype=np.int64), [str(i) for i in page])
            pos += len(page)
            if pos >= self.universe:
                break
        self.positions, self.ids = best.sorted()
        self.size = len(self.positions)

    # -- reading ------------------------------------------------------------------------------------
    def n_chunks(self) -> int:
        return -(-self.size // self.chunk)

    def chunks(self, rank: int = 0, world: int = 1, skip: set[str] | frozenset = frozenset()
               ) -> Iterator[tuple[int, list[Item]]]:
        """``(chunk index, items)`` of this rank's chunks, in order, without the ids in ``skip``
        (chunks left empty are not yielded)."""
        if self.method == "all":
            yield from self._scan_all(rank, world, skip)
            return
        self.draw()
        mine = [k for k in range(self.n_chunks()) if k % world == rank]
        if self.method == "ids":
            for k in mine:
                lo, hi = k * self.chunk, (k + 1) * self.chunk
                wanted = [(int(p), i) for p, i in zip(self.positions[lo:hi], self.ids[lo:hi]) if i not in skip]
                if not wanted:
                    continue
                items = []
                for b in self.reader.fetch([i for _, i in wanted], batch_size=self.chunk):
                    items += _items(b, [p for p, _ in wanted[len(items):len(items) + len(b.ids)]])
                yield k, items
            return
        # positions (read by position), or scan (picked out of one scan): one stream of my rows
        which = np.concatenate([np.arange(k * self.chunk, min((k + 1) * self.chunk, self.size)) for k in mine]) \
            if mine else np.zeros(0, np.int64)
        positions = self.positions[which]
        current, items = None, []
        done = 0
        for b in self.reader.read_positions(positions, batch_size=self.chunk):
            for it in _items(b, positions[done:done + len(b.ids)].tolist()):
                k = int(which[done]) // self.chunk
                done += 1
                if k != current:
                    if items:
                        yield current, items
                    current, items = k, []
                if it.id not in skip:
                    items.append(it)
        if items:
            yield current, items

    def _scan_all(self, rank: int, world: int, skip) -> Iterator[tuple[int, list[Item]]]:
        pos, current, items = 0, None, []
        gen = self.reader.batches(self.read_batch)
        try:
            for b in gen:
                docs = b.documents if b.documents is not None else [None] * len(b.ids)
                for i, v, d in zip(b.ids, b.vectors, docs):
                    if pos >= self.universe:
                        break
                    k = pos // self.chunk
                    if k % world == rank and str(i) not in skip:
                        if k != current and items:
                            yield current, items
                            items = []
                        current = k
                        items.append(Item(pos, str(i), v, d))
                    pos += 1
                if pos >= self.universe:
                    break
        finally:
            gen.close()
        if items:
            yield current, items


def _items(b, positions: list[int]) -> list[Item]:
    docs = b.documents if b.documents is not None else [None] * len(b.ids)
    return [Item(int(p), str(i), v, d) for p, i, v, d in zip(positions, b.ids, b.vectors, docs)]
