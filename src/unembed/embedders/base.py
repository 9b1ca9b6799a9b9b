"""The embedder contract: ``embed(list[str]) -> float32 array (n, d)``, counted and checked.

:class:`Embedder` holds what every adapter shares (validation, batching, call counters, lazily
discovered dimension and normalisation) and the *fingerprint*: name, dimension, pooling,
normalisation, casing and the embedding of a fixed probe sentence, stored with an inverter so
that :func:`check_fingerprint` can refuse an inverter trained for another embedder.
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbedderError, InputError

logger = logging.getLogger("unembed.embedders")

__all__ = ["Embedder", "check_fingerprint", "PROBE_SENTENCE", "PROBE_COSINE_MIN", "DEFAULT_LOCAL_BATCH_SIZE",
           "check_texts", "as_2d_float32", "read_json", "one_line", "positive_int", "nonnegative_int",
           "nonnegative_float", "positive_float"]

PROBE_SENTENCE = "The quick brown fox jumps over the lazy dog near the riverbank in 1998."
PROBE_COSINE_MIN = 0.99
DEFAULT_LOCAL_BATCH_SIZE = 128


class Embedder:
    """An embedder: turns a list of texts into a float32 array of shape ``(n, dim)``.

    Subclasses implement :meth:`_embed` (one batch of at most ``batch_size`` texts in, one array
    out); validation, batching and the call counters live here. ``dim`` and ``normalize`` may be
    left unknown (``None``) by a subclass, in which case they are discovered from the embedding of
    :data:`PROBE_SENTENCE` the first time they are read.
    """

    def __init__(
        self,
        name: str,
        *,
        dim: int | None = None,
        pooling: str = "unknown",
        normalize: bool | None = None,
        cased: bool = True,
        batch_size: int = DEFAULT_LOCAL_BATCH_SIZE,
    ) -> None:
        self.name = name
        self.pooling = pooling
        self.cased = cased
        self.batch_size = positive_int(batch_size, "batch_size")
        self.calls = 0
        self.texts_embedded = 0
        self._dim = dim
        self._normalize = normalize
        self._probe: np.ndarray | None = None

    # -- properties discovered lazily --------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Embedding dimension (embeds the probe sentence once if not known yet)."""
        if self._dim is None:
            self._dim = int(self._probe_vector().shape[0])
        return self._dim

    @property
    def normalize(self) -> bool:
        """Whether output vectors are L2-normalised (judged from the probe's norm if not stated)."""
        if self._normalize is None:
            norm = float(np.linalg.norm(self._probe_vector()))
            self._normalize = abs(norm - 1.0) < 1e-3
        return self._normalize

    # -- public API -------------------------------------------------------------------------------

    def embed(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Embed ``texts``; returns a C-contiguous float32 array of shape ``(len(texts), dim)``."""
        checked = check_texts(texts)
        size = self.batch_size if batch_size is None else positive_int(batch_size, "batch_size")
        self.calls += 1
        self.texts_embedded += len(checked)
        if not checked:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._run(checked, size)

    def normalize_text(self, text: str) -> str:
        """The embedder's own text normalisation (identity for a cased embedder)."""
        return text

    def fingerprint(self) -> dict[str, Any]:
        """Identity of this embedder, stored with an inverter and checked by :func:`check_fingerprint`."""
        probe = self._probe_vector()
        return {
            "name": self.name,
            "dim": self.dim,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "cased": self.cased,
            "probe_sentence": PROBE_SENTENCE,
            "probe": [round(float(x), 6) for x in probe],
        }

    def reset_counters(self) -> None:
        """Set ``calls`` and ``texts_embedded`` back to zero."""
        self.calls = 0
        self.texts_embedded = 0

    def __repr__(self) -> str:
        dim = "?" if self._dim is None else self._dim
        return f"{type(self).__name__}(name={self.name!r}, dim={dim})"

    # -- for subclasses ---------------------------------------------------------------------------

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Embed one batch of texts (never empty). Must return an array-like of shape (n, dim)."""
        raise NotImplementedError

    def _embed_all(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Embed all texts by calling :meth:`_embed` once per batch; subclasses may override."""
        parts = [as_2d_float32(self._embed(texts[i : i + batch_size]), self.name) for i in range(0, len(texts), batch_size)]
        if len({part.shape[1] for part in parts}) > 1:
            raise EmbedderError(f"embedder {self.name} returned vectors of different sizes: check that it always uses the same model")
        return np.concatenate(parts, axis=0)

    # -- internals --------------------------------------------------------------------------------

    def _run(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Embed without touching the counters, and check what the backend returned."""
        out = as_2d_float32(self._embed_all(texts, batch_size), self.name)
        if out.shape[0] != len(texts):
            raise EmbedderError(
                f"embedder {self.name} returned {out.shape[0]} vectors for {len(texts)} texts: "
                "it must return one vector per text"
            )
        if self._dim is None:
            self._dim = int(out.shape[1])
        elif out.shape[1] != self._dim:
            raise EmbedderError(
                f"embedder {self.name} returned vectors of dim {out.shape[1]} instead of {self._dim}: "
                "check that it always uses the same model"
            )
        if not np.isfinite(out).all():
            raise EmbedderError(
                f"embedder {self.name} returned NaN or infinite values: check the model or endpoint"
            )
        return np.ascontiguousarray(out, dtype=np.float32)

    def _probe_vector(self) -> np.ndarray:
        """Embedding of :data:`PROBE_SENTENCE` (computed once, not counted)."""
        if self._probe is None:
            self._probe = self._run([PROBE_SENTENCE], self.batch_size)[0]
        return self._probe

    def _embed_uncounted(self, texts: list[str]) -> np.ndarray:
        """Embed texts for internal checks without touching the user-visible counters."""
        return self._run(check_texts(texts), self.batch_size)


def check_fingerprint(recorded: Mapping[str, Any], embedder: Embedder) -> None:
    """Raise :class:`EmbedderError` unless ``embedder`` is the one ``recorded`` was taken from.

    Compares the dimension, then the cosine between the recorded probe embedding and the probe as
    ``embedder`` embeds it now (at least 0.99). The probe call is not counted in ``embedder.calls``.
    """
    if not isinstance(recorded, Mapping) or "dim" not in recorded or "probe" not in recorded:
        raise EmbedderError(
            "the recorded embedder fingerprint is incomplete (needs dim and probe): re-save the inverter with this unembed"
        )
    name = recorded.get("name", "an unknown embedder")
    try:
        dim = int(recorded["dim"])
        probe = np.asarray(recorded["probe"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise EmbedderError("the recorded embedder fingerprint is corrupt: re-save the inverter") from exc
    if dim != embedder.dim:
        raise EmbedderError(
            f"this inverter was trained for {name} (dim {dim}) but the embedder is {embedder.name} "
            f"(dim {embedder.dim}): load the embedder it was trained with"
        )
    if probe.shape != (dim,):
        raise EmbedderError("the recorded embedder fingerprint is corrupt (probe has the wrong size): re-save the inverter")
    sentence = recorded.get("probe_sentence", PROBE_SENTENCE)
    if sentence == PROBE_SENTENCE:
        current = embedder._probe_vector().astype(np.float64)
    else:
        current = embedder._embed_uncounted([str(sentence)])[0].astype(np.float64)
    denominator = float(np.linalg.norm(probe) * np.linalg.norm(current))
    cosine = float(probe @ current) / denominator if denominator > 0 else 0.0
    if not math.isfinite(cosine) or cosine < PROBE_COSINE_MIN:
        raise EmbedderError(
            f"this inverter was trained for {name}, but the embedder {embedder.name} gives different vectors "
            f"(probe cosine {cosine:.2f}): load the embedder it was trained with"
        )
    logger.debug("fingerprint of %s matches %s (probe cosine %.4f)", embedder.name, name, cosine)


def check_texts(texts: Any) -> list[str]:
    """``texts`` as a list of str, or :class:`InputError`."""
    if isinstance(texts, str):
        raise InputError("embed() takes a list of texts, not a single string: pass [text]")
    if not isinstance(texts, (list, tuple)):
        raise InputError(f"embed() takes a list of texts, not {type(texts).__name__}: pass a list of str")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text {i} is {type(text).__name__}, not str: pass only strings to embed()")
    return list(texts)


def as_2d_float32(out: Any, name: str) -> np.ndarray:
    """A backend's output as a 2-D float32 array, or :class:`EmbedderError`."""
    try:
        array = np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise EmbedderError(f"embedder {name} returned {type(out).__name__}, not an array of numbers") from exc
    if array.ndim != 2:
        raise EmbedderError(
            f"embedder {name} returned an array of shape {array.shape}: it must return shape (n_texts, dim)"
        )
    return array


def read_json(path: Path, *, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EmbedderError(f"cannot read {what} {path}: {one_line(exc)}; fix or restore the file") from exc


def one_line(value: Any) -> str:
    """``value`` as a single line of text."""
    return " ".join(str(value).split())


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def nonnegative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(f"{name} must be a non-negative integer, not {value!r}")
    return int(value)


def nonnegative_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(f"{name} must be a non-negative number of seconds, not {value!r}")
    return float(value)


def positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)
