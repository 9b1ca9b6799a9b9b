"""The registry of embedder adapters: which kinds of spec ``load_embedder`` understands.

An adapter declares its ``kind``, the options it takes, a ``matches(spec)`` test and a
``load(spec, options)`` function, and registers itself when its module is imported; adding an
adapter is adding one file that calls :func:`register`. :func:`load_embedder` asks the adapters in
``priority`` order (lowest first) and the first that matches loads the embedder; the usage line of
every "unknown embedder" error is built from the adapters' descriptions.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import EmbedderError
from .base import Embedder

logger = logging.getLogger("unembed.embedders")

__all__ = ["Adapter", "register", "adapters", "load_embedder", "usage", "known_embedders"]


@dataclass(frozen=True)
class Adapter:
    """One kind of embedder spec (a name, a folder, a URL, a callable...)."""

    kind: str
    describe: str  # for the usage line ("an http(s):// endpoint"); empty to leave it out
    options: frozenset[str]
    matches: Callable[[Any], bool]
    load: Callable[[Any, dict[str, Any]], Embedder]
    priority: int = 50
    names: tuple[str, ...] = field(default=())  # names it accepts without a path or URL


_ADAPTERS: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    """Add ``adapter`` (a second adapter of the same kind replaces the first)."""
    _ADAPTERS[adapter.kind] = adapter
    return adapter


def adapters() -> list[Adapter]:
    """Registered adapters, in the order :func:`load_embedder` asks them."""
    return sorted(_ADAPTERS.values(), key=lambda a: (a.priority, a.kind))


def usage() -> str:
    """The list of spec kinds, for "unknown embedder" errors."""
    parts = [a.describe for a in adapters() if a.describe]
    return "use one of " + ", ".join(parts[:-1]) + (", or " if len(parts) > 1 else "") + parts[-1]


def known_embedders() -> list[str]:
    """Names :func:`load_embedder` accepts without a path or URL (canonical name first, then aliases)."""
    return [n for a in adapters() for n in a.names]


def _check_options(adapter: Adapter, options: Mapping[str, Any], what: str) -> None:
    unknown = sorted(set(options) - adapter.options)
    if unknown:
        raise EmbedderError(
            f"option(s) {', '.join(unknown)} do not apply to {what}: use only {', '.join(sorted(adapter.options))}"
        )


def load_embedder(spec: Any, **options: Any) -> Embedder:
    """Load an embedder from a name, folder, URL, callable or :class:`Embedder`.

    ``spec`` may be ``"minilm"`` (or an alias), a sentence-transformers folder, a Hugging Face model
    folder (``pooling`` and ``normalize`` stated as options or in ``unembed_embedder.json``), an
    ``http(s)://HOST/v1?model=NAME`` endpoint, a callable ``fn(list[str]) -> array``, anything a
    registered adapter matches, or an :class:`Embedder` (returned unchanged). Options set to
    ``None`` count as not given.
    """
    options = {key: value for key, value in options.items() if value is not None}
    if isinstance(spec, Embedder):
        if options:
            logger.warning("options %s ignored: %s is already loaded", sorted(options), spec.name)
        return spec
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if isinstance(spec, str):
        spec = spec.strip()
        if not spec:
            raise EmbedderError(f"unknown embedder {spec!r}: {usage()}")
    for adapter in adapters():
        if adapter.matches(spec):
            what = "a Python callable" if adapter.kind == "callable" else str(spec)
            _check_options(adapter, options, what)
            return adapter.load(spec, dict(options))
    raise EmbedderError(f"unknown embedder {spec!r}: {usage()}")
