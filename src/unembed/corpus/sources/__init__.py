"""The registry of corpus sources: one module a source, each registering itself on import.

Adding a source is adding one file here that calls :func:`register` (modules named ``_*`` hold
helpers shared by several sources and register nothing); :func:`all_sources` imports
every module of this package, so the default corpus, ``--corpus`` help and the manifests pick it
up without any other edit. Sources are listed in name order, which keeps builds deterministic.
"""
from __future__ import annotations

import importlib
import pkgutil

from ...errors import InputError
from .base import Source, SourceUnavailable, find_one

__all__ = ["Source", "SourceUnavailable", "find_one", "register", "get", "all_sources", "names"]

_REGISTRY: dict[str, Source] = {}
_LOADED = False


def register(source: Source) -> Source:
    """Add ``source`` to the registry (a second source of the same name is an error)."""
    if source.name in _REGISTRY and _REGISTRY[source.name] is not source:
        raise ValueError(f"two corpus sources are named {source.name!r}")
    _REGISTRY[source.name] = source
    return source


def _load_all() -> None:
    global _LOADED
    if not _LOADED:
        for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if module.name != "base" and not module.name.startswith("_"):  # _name: helpers shared by sources
                importlib.import_module(f"{__name__}.{module.name}")
        _LOADED = True


def all_sources() -> list[Source]:
    """Every registered source, in name order."""
    _load_all()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def names() -> list[str]:
    return [s.name for s in all_sources()]


def get(name: str) -> Source:
    """The source called ``name`` (``-`` and ``_`` are interchangeable: ``nodejs_doc`` is ``nodejs-doc``)."""
    _load_all()
    for candidate in (name, name.replace("_", "-"), name.replace("-", "_")):
        if candidate in _REGISTRY:
            return _REGISTRY[candidate]
    if name not in _REGISTRY:
        raise InputError(f"unknown corpus source {name!r}; use one of {', '.join(names())}")
    return _REGISTRY[name]
