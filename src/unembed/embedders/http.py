"""An OpenAI-compatible ``/embeddings`` endpoint: batching, retries with backoff, an on-disk cache."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbedderError
from .base import Embedder, nonnegative_float, nonnegative_int, one_line, positive_float
from .registry import Adapter, register

logger = logging.getLogger("unembed.embedders")

__all__ = ["HTTPEmbedder", "DEFAULT_HTTP_BATCH_SIZE", "cache_enabled", "cache_key"]

DEFAULT_HTTP_BATCH_SIZE = 64


class HTTPEmbedder(Embedder):
    """An OpenAI-compatible ``/embeddings`` endpoint, with retries and an on-disk cache.

    ``url`` is the API base with the model as a query parameter, e.g.
    ``http://127.0.0.1:8080/v1?model=NAME``; requests go to ``{base}/embeddings``. Every text's
    vector is stored in an sqlite file under ``cache_dir`` so that no text is ever sent twice; the
    cache is keyed by endpoint (origin and path), model and text, the file is created 0600 in a
    0700 folder, and ``cache=False`` or ``UNEMBED_HTTP_CACHE=off`` turns it off (the vectors it
    holds are as invertible as any others: see SECURITY.md).

    Redirects are never followed: an endpoint that answers 3xx is refused with one line, so the
    API key is only ever sent to the configured origin. A key sent over plain ``http://`` to a host
    that is not loopback is warned about once per origin.
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
        self.max_retries = nonnegative_int(max_retries, "max_retries")
        self.backoff = nonnegative_float(backoff, "backoff")
        self.timeout = positive_float(timeout, "timeout")
        self.requests_sent = 0
        self._count_lock = threading.Lock()
        self._cache = _VectorCache(_http_cache_dir(cache_dir)) if cache and cache_enabled() else None
        super().__init__(url, pooling="unknown", cased=True, batch_size=batch_size)
        if self.api_key:
            _warn_plain_http(self.endpoint)

    def _embed_all(self, texts: list[str], batch_size: int) -> np.ndarray:
        unique = list(dict.fromkeys(texts))
        keys = {text: cache_key(self.endpoint, self.model, text) for text in unique}
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
            with self._count_lock:
                self.requests_sent += 1
            try:
                with _OPENER.open(request, timeout=self.timeout) as response:
                    raw = response.read()
            except urllib.error.HTTPError as exc:
                if 300 <= exc.code < 400:
                    target = exc.headers.get("Location", "") if exc.headers else ""
                    raise EmbedderError(
                        f"embedding endpoint {self.endpoint} answered HTTP {exc.code} redirect to "
                        f"{one_line(target)[:200] or 'another URL'}; unembed never follows redirects (the API key "
                        "must not leave the configured origin): configure the final URL instead"
                    ) from None
                message = _server_message(exc)
                if exc.code == 429 or exc.code >= 500:
                    reason = f"HTTP {exc.code} {message}".strip()
                    continue
                raise EmbedderError(
                    f"embedding endpoint {self.endpoint} refused the request: HTTP {exc.code} {message}".rstrip()
                    + "; check the model name, API key and inputs"
                ) from exc
            except (urllib.error.URLError, HTTPException, OSError) as exc:
                reason = one_line(getattr(exc, "reason", None) or exc)
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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: the 3xx response surfaces as an HTTPError the caller turns into one line."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 - urllib's hook
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())
_WARNED_ORIGINS: set[str] = set()
_WARN_LOCK = threading.Lock()
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def _warn_plain_http(endpoint: str) -> None:
    parts = urllib.parse.urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host in LOOPBACK_HOSTS or host.startswith("127."):
        return
    origin = f"{parts.scheme}://{parts.netloc.lower()}"
    with _WARN_LOCK:
        if origin in _WARNED_ORIGINS:
            return
        _WARNED_ORIGINS.add(origin)
    logger.warning("the API key is sent to %s over plain http (not encrypted, host is not loopback): "
                   "use https:// for remote endpoints", origin)


def cache_enabled() -> bool:
    """False when ``UNEMBED_HTTP_CACHE`` is ``off``, ``0``, ``no`` or ``false``: the one switch for the HTTP cache."""
    return os.environ.get("UNEMBED_HTTP_CACHE", "on").strip().lower() not in {"off", "0", "no", "false"}


class _VectorCache:
    """An sqlite file (mode 0600, folder 0700) mapping sha256(endpoint, model, text) to float32 vector bytes."""

    def __init__(self, folder: Path) -> None:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
            self.path = folder / "embeddings.sqlite"
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(self.path, 0o600)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise EmbedderError(
                f"cannot use embedding cache folder {folder}: {one_line(exc)}; pass cache_dir=... or set UNEMBED_CACHE"
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


def cache_key(endpoint: str, model: str, text: str) -> str:
    """The cache key of ``text`` embedded by ``model`` at ``endpoint`` (origin and path, lower-cased origin)."""
    parts = urllib.parse.urlsplit(endpoint)
    where = urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))
    return hashlib.sha256(f"v2\0{where}\0{model}\0{text}".encode("utf-8")).hexdigest()


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
    text = one_line(message) if message else (exc.reason or "")
    return str(text)[:300]


register(Adapter(
    kind="http", describe="an http(s):// endpoint", priority=85,
    options=frozenset({"device", "batch_size", "model", "api_key", "max_retries", "backoff", "timeout", "cache_dir",
                       "cache"}),
    matches=lambda spec: isinstance(spec, str) and re.match(r"^https?://", spec.strip(), flags=re.IGNORECASE) is not None,
    load=lambda spec, options: HTTPEmbedder(spec, **{k: v for k, v in options.items() if k != "device"}),
))
