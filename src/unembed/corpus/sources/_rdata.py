"""A minimal reader of R's serialization format (XDR, versions 2 and 3) and lazy-load databases.

Enough to read the character vectors an R data package ships (``data/Rdata.rdx`` + ``Rdata.rdb``):
vectors, pairlists, symbols and strings. Reading is parsing bytes only; no R code runs. Environments,
closures and other object kinds are refused with :class:`RDataError`.

This module registers no source (its name starts with ``_``).
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

__all__ = ["RDataError", "RVector", "unserialize", "lazyload_objects"]

_SYM, _LIST, _CHAR, _LGL, _INT, _REAL, _STR, _VEC = 1, 2, 9, 10, 13, 14, 16, 19
# NULL, the global, empty and base environments, the missing argument and the base namespace:
# all read as None.
_REF, _SPECIAL_NILS = 255, {254, 253, 242, 241, 251, 247}


class RDataError(ValueError):
    """Bytes that are not an R serialization this reader supports."""


class RVector(list):
    """An R vector: its items, and its attributes (``names``, ``class``, ...) in ``attrs``."""

    attrs: dict

    def __init__(self, items=(), attrs: dict | None = None) -> None:
        super().__init__(items)
        self.attrs = attrs or {}

    def named(self) -> dict:
        """The items by name (the ``names`` attribute)."""
        return dict(zip(self.attrs.get("names") or [], self))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.refs = data, 0, []

    def int(self) -> int:
        if self.pos + 4 > len(self.data):
            raise RDataError("truncated R serialization")
        (value,) = struct.unpack_from(">i", self.data, self.pos)
        self.pos += 4
        return value

    def bytes(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        if len(out) != n:
            raise RDataError("truncated R serialization")
        self.pos += n
        return out

    def item(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind in _SPECIAL_NILS:
            return None
        if kind == _REF:
            index = flags >> 8 or self.int()
            return self.refs[index - 1]
        if kind == _SYM:
            name = self.item()
            self.refs.append(name)
            return name
        if kind == _LIST:
            if has_attr:
                self.item()  # a pairlist cell's attributes: not needed
            tag = self.item() if has_tag else None
            head = (tag, self.item())
            rest = self.item()
            return [head] + (rest if isinstance(rest, list) else [])
        if kind == _CHAR:
            n = self.int()
            return None if n == -1 else self.bytes(n).decode("utf-8", errors="replace")
        if kind in (_LGL, _INT, _REAL, _STR, _VEC):
            n = self.int()
            if kind in (_LGL, _INT):
                value = list(struct.unpack_from(f">{n}i", self.bytes(4 * n)))
            elif kind == _REAL:
                value = list(struct.unpack_from(f">{n}d", self.bytes(8 * n)))
            else:
                value = [self.item() for _ in range(n)]
            attrs = self.item() if has_attr else None
            return RVector(value, dict(attrs) if isinstance(attrs, list) else None)
        raise RDataError(f"R object type {kind} is not supported")


def unserialize(data: bytes):
    """The object in ``data`` (an XDR R serialization, ``X\\n`` header): strings, lists of items,
    pairlists as lists of (tag, value)."""
    if data[:2] != b"X\n":
        raise RDataError("not an XDR R serialization")
    reader = _Reader(data)
    reader.pos = 2
    version = reader.int()
    reader.int(), reader.int()  # writer and minimal reader versions
    if version == 3:
        reader.bytes(reader.int())  # native encoding
    elif version != 2:
        raise RDataError(f"R serialization version {version} is not supported")
    return reader.item()


def lazyload_objects(rdx: Path) -> dict:
    """Every object of a lazy-load database (``NAME.rdx`` index beside ``NAME.rdb``), by name.

    The index (gzip-compressed) names each object's (offset, length) in the ``.rdb``; a blob is a
    4-byte uncompressed length and a zlib stream."""
    raw = rdx.read_bytes()
    index = unserialize(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else zlib.decompress(raw[4:]))
    if not isinstance(index, RVector):
        raise RDataError(f"{rdx.name} is not a lazy-load index")
    variables = index.named().get("variables")
    if not isinstance(variables, RVector):
        raise RDataError(f"{rdx.name} names no variables")
    data = rdx.with_suffix(".rdb").read_bytes()
    out = {}
    for name, (offset, length) in variables.named().items():
        blob = data[offset : offset + length]
        try:
            out[name] = unserialize(zlib.decompress(blob[4:]))
        except zlib.error as e:
            raise RDataError(f"object {name} of {rdx.name}: {e}") from None
    return out
