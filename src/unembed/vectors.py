"""Checking and reading arrays of embedding vectors handed to unembed.

Rows that cannot be inverted are refused with one line naming them, never inverted silently:
a zero-norm row has no direction (every text's embedding is equally far from it, cosine 0, so any
"recovered" text would be made up), and a constant row (every coordinate equal, d > 1) is the
all-ones direction, which is what fill values and placeholders look like, not an embedding. We
refuse rather than warn because a made-up sentence with a plausible cosine is exactly the output a
user could mistake for a leak (or for its absence).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .errors import InputError


def check_vectors(vectors, dim: int | None = None, what: str = "vectors", invertible: bool = False) -> np.ndarray:
    """Return ``vectors`` as a C-contiguous float32 (n, d) array, or raise a one-line InputError.

    A single 1-D vector is taken as one row. Empty input, a wrong dimension, and NaN or infinite
    values are refused, naming the first offending row. With ``invertible`` (vectors about to be
    inverted), all-zero and constant rows are refused too, naming them (see the module docstring).
    """
    if np.iscomplexobj(vectors):  # a cast to float32 would drop the imaginary parts without a word
        raise InputError(f"{what} are complex numbers: embeddings are real; save the real vectors")
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 become inf, refused below
            arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{what} are not a numeric array: {' '.join(str(exc).split())[:200]}") from None
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
    if not invertible:
        return np.ascontiguousarray(arr)
    zero = ~(np.abs(arr) > 0).any(axis=1)
    if zero.any():
        rows = np.flatnonzero(zero)
        raise InputError(f"{what} hold {len(rows)} all-zero row(s) ({_rows(rows)}): a zero vector has no direction "
                         "and cannot be inverted; remove those rows")
    if arr.shape[1] > 1:
        constant = (arr == arr[:, :1]).all(axis=1)
        if constant.any():
            rows = np.flatnonzero(constant)
            raise InputError(f"{what} hold {len(rows)} constant row(s) ({_rows(rows)}): every coordinate equal is a "
                             "fill value, not an embedding; remove those rows")
    return np.ascontiguousarray(arr)


def _rows(rows) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:5])
    return f"row {shown}" if len(rows) == 1 else f"rows {shown}{', ...' if len(rows) > 5 else ''}"


def load_vectors(path: str | Path) -> tuple[list[str] | None, np.ndarray]:
    """Read vectors from .npy, .npz (one array, or arrays 'vectors' and optional 'ids'), or .jsonl
    (fields 'vector' or 'embedding', optional 'id'). Returns (ids or None, array)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"vector file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz", ".jsonl"):
        raise InputError(f"unsupported vector file {path}: use .npy, .npz or .jsonl")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a vector file: give a .npy, .npz or .jsonl file")
    try:
        if suffix == ".npy":
            with open(path, "rb") as fh:  # opened here so that it is closed whatever np.load raises
                array = np.load(fh, allow_pickle=False)
            return None, check_vectors(array, what=f"vectors in {path}", invertible=True)
        if suffix == ".npz":
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
                files = list(z.files)
                arrays = [f for f in files if f != "ids"]
                if "vectors" in files:
                    key = "vectors"
                elif len(arrays) == 1:
                    key = arrays[0]
                else:
                    found = ", ".join(repr(f) for f in files[:10]) or "none"
                    raise InputError(f"{path} holds no array named 'vectors' and {'several' if arrays else 'no'} "
                                     f"other arrays ({found}): save the vectors as 'vectors' (np.savez(f, vectors=...))")
                ids = [str(i) for i in np.asarray(z["ids"]).reshape(-1)] if "ids" in files else None
                vectors = check_vectors(z[key], what=f"vectors in {path}", invertible=True)
                if ids is not None and len(ids) != len(vectors):
                    raise InputError(f"{path} holds {len(ids)} ids for {len(vectors)} vectors: give one id a vector")
                return ids, vectors
        ids, rows = [], []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{n}: not valid JSON ({exc.msg} at column {exc.colno}): "
                                     "one JSON object a line") from None
                except RecursionError:
                    raise InputError(f"{path}:{n}: JSON nested too deeply to read: one JSON object a line, "
                                     "its 'vector' a flat list of numbers") from None
                if not isinstance(rec, dict):
                    raise InputError(f"{path}:{n}: a line must be a JSON object with a 'vector' field")
                vec = rec.get("vector", rec.get("embedding"))
                if vec is None:
                    raise InputError(f"{path}:{n}: no 'vector' or 'embedding' field")
                if not isinstance(vec, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                        for x in vec):
                    raise InputError(f"{path}:{n}: 'vector' must be a list of numbers")
                if rows and len(vec) != len(rows[0]):
                    raise InputError(f"{path}:{n}: vector of length {len(vec)}, but earlier lines have {len(rows[0])}")
                rows.append(vec)
                ids.append(str(rec.get("id", len(ids))))
        return ids, check_vectors(rows if rows else np.zeros((0, 0)), what=f"vectors in {path}", invertible=True)
    except InputError:
        raise
    except UnicodeDecodeError:
        raise InputError(f"cannot read vectors from {path}: not UTF-8 text") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, TypeError, OverflowError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputError(f"cannot read vectors from {path}: {reason}") from None
