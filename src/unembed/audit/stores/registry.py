"""The registry of store readers: which URI schemes ``open_store`` understands.

A reader module registers an opener for its scheme(s) with :func:`register` when it is imported;
:func:`open_store` imports every module of this package on first use, so adding a store is adding
one file. The CLI help and every "unknown scheme" error list the registered schemes and their URI
forms.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable
from urllib.parse import ParseResult, parse_qsl, urlparse

from ...errors import InputError, UnembedError
from .base import StoreReader, redact

__all__ = ["Scheme", "register", "schemes", "open_store", "uri_forms", "check_uri"]


@dataclass(frozen=True)
class Scheme:
    """One URI scheme: ``open(raw_uri, parsed, query) -> reader``."""

    name: str
    form: str  # the URI form shown in help: "chroma:///PATH?collection=NAME"
    describe: str  # how it is read, for the docs and help
    open: Callable[[str, ParseResult, dict], StoreReader]
    extra: str = ""  # the install extra of its client
    path_based: bool = False  # the URI names a file or folder (tolerates 'x:///path&param=...')


_SCHEMES: dict[str, Scheme] = {}
_LOADED = False


def register(name: str, form: str, describe: str, extra: str = "", path_based: bool = False,
             aliases: tuple[str, ...] = ()):
    """Decorator: register ``opener(raw_uri, parsed, query)`` for scheme ``name`` (and ``aliases``)."""
    def wrap(opener):
        for n in (name, *aliases):
            _SCHEMES[n] = Scheme(n, form, describe, opener, extra, path_based)
        return opener
    return wrap


def _load_all() -> None:
    global _LOADED
    if not _LOADED:
        for module in sorted(pkgutil.iter_modules(_package_path()), key=lambda m: m.name):
            if module.name not in ("base", "registry") and not module.name.startswith("_"):
                importlib.import_module(f"{__package__}.{module.name}")
        _LOADED = True


def _package_path():
    return importlib.import_module(__package__).__path__


def schemes() -> list[Scheme]:
    """Registered schemes (aliases included), in name order."""
    _load_all()
    return [_SCHEMES[k] for k in sorted(_SCHEMES)]


def uri_forms() -> list[str]:
    """One URI form per store kind, for help texts."""
    seen, out = set(), []
    for s in schemes():
        if s.form not in seen:
            seen.add(s.form)
            out.append(s.form)
    return out


def check_uri(uri: str) -> None:
    """Refuse, with one line, a store URI whose scheme is unknown or whose file or folder does not exist,
    without importing any store client (so that a command can check its arguments before loading)."""
    names = ", ".join(s.name + "://" for s in schemes())
    if not isinstance(uri, str) or "://" not in uri:
        raise InputError(f"'{redact(str(uri))}' is not a store URI: use one of {names}")
    parsed = _parse(uri)
    scheme = _SCHEMES.get(parsed.scheme.lower())
    if scheme is None:
        raise InputError(f"unknown store URI scheme '{parsed.scheme}' in '{redact(uri)}': supported: {names}")
    if scheme.path_based:
        from .base import uri_path

        if not parsed.query and "&" in parsed.path:
            parsed = parsed._replace(path=parsed.path.partition("&")[0])
        path = uri_path(parsed, uri)
        if not path.exists():
            raise InputError(f"no {scheme.name} store at '{path}' (from {redact(uri)}): check the path "
                             f"({scheme.form}; three slashes for an absolute path)")


def _parse(uri: str) -> ParseResult:
    try:
        return urlparse(uri)
    except ValueError as exc:  # "Invalid IPv6 URL": an unbalanced [ or ] in the host
        raise InputError(f"'{redact(uri)}' is not a valid URI ({exc}): check its host") from None


def open_store(uri: str) -> StoreReader:
    """A read-only reader for ``uri``; the scheme picks the reader (see :func:`uri_forms`)."""
    names = ", ".join(s.name + "://" for s in schemes())
    if not isinstance(uri, str) or "://" not in uri:
        raise InputError(f"'{redact(str(uri))}' is not a store URI: use one of {names}")
    raw = uri
    parsed = _parse(uri)
    scheme = _SCHEMES.get(parsed.scheme.lower())
    if scheme is None:
        raise InputError(f"unknown store URI scheme '{parsed.scheme}' in '{redact(raw)}': supported: {names}")
    if not parsed.query and "&" in parsed.path and scheme.path_based:
        # tolerate 'faiss:///x.index&texts=y.jsonl' (first parameter written with '&')
        path, _, rest = parsed.path.partition("&")
        parsed = parsed._replace(path=path, query=rest)
    query = {k: v for k, v in parse_qsl(parsed.query, keep_blank_values=True)}
    try:
        return scheme.open(raw, parsed, query)
    except UnembedError as exc:  # readers quote the URI: shown without its password or key, on one line
        message = " ".join(str(exc).replace(raw, redact(raw)).split())
        if message == str(exc):
            raise
        raise type(exc)(message) from None
