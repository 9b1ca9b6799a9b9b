"""Checking and reading arrays of embedding vectors handed to unembed."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import InputError


def check_vectors(vectors, dim: int | None = None, what: str = "vectors") -> np.ndarray:
    """Return ``vectors`` as a C-contiguous float32 (n, d) array, or raise a one-line InputError.

    A single 1-D vector is taken as one row. Empty input, a wrong dimension, and NaN or infinite
    values are refused, naming the first offending row.
    """
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} are not a numeric array: {exc}") from None
    if arr.ndim == 1 and arr.size:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InputError(f"{what} must be a 2-D array (n, d); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(f"no {what} given: pass at least one vector")
    if dim is not None and arr.shape[1] != dim:
        raise InputError(
            f"{what} have dimension {arr.shape[1]} but the inverter expects {dim}: "
            "use the inverter trained for the embedder that produced them"
        )
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(f"{what} contain NaN or infinite values in {len(rows)} row(s), first at row {rows[0]}")
    return np.ascontiguousarray(arr)


def load_vectors(path: str | Path) -> tuple[list[str] | None, np.ndarray]:
    """Read vectors from .npy, .npz (one array, or arrays 'vectors' and optional 'ids'), or .jsonl
    (fields 'vector' or 'embedding', optional 'id'). Returns (ids or None, array)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"vector file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return None, check_vectors(np.load(path, allow_pickle=False), what=f"vectors in {path}")
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                key = "vectors" if "vectors" in z.files else z.files[0]
                ids = [str(i) for i in z["ids"]] if "ids" in z.files else None
                return ids, check_vectors(z[key], what=f"vectors in {path}")
        if suffix == ".jsonl":
            ids, rows = [], []
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                rec = json.loads(line)
                vec = rec.get("vector", rec.get("embedding"))
                if vec is None:
                    raise InputError(f"{path}:{n}: no 'vector' or 'embedding' field")
                rows.append(vec)
                ids.append(str(rec.get("id", len(ids))))
            return ids, check_vectors(rows, what=f"vectors in {path}")
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read vectors from {path}: {exc}") from None
    raise InputError(f"unsupported vector file {path}: use .npy, .npz or .jsonl")
