"""The registry of defences: ``@register`` a :class:`Defence` subclass, and ``get``, ``parse``,
``parse_list``, the spec forms, the command line's ``--defence`` help and the plot's colours know it.

Everything here reads the registry when it is called, so a defence registered late (a plug-in, a
test's toy defence) is seen as well as the built-in ones.
"""
from __future__ import annotations

import inspect
import re

from ...errors import InputError
from .base import Defence

__all__ = ["register", "registered", "names", "spec_forms", "colour", "parameters", "get", "parse", "parse_list"]

_REGISTRY: dict[str, type[Defence]] = {}
_FAMILY = re.compile(r"^[a-z][a-z0-9_]*$")


def register(cls: type[Defence]) -> type[Defence]:
    """Add the defence class ``cls`` under its ``family`` (a class decorator; returns ``cls``).

    The family must be a lower-case word, its ``spec_form`` must be the family alone or
    ``family:ARG``, and a second class of the same family is an error."""
    if not (isinstance(cls, type) and issubclass(cls, Defence)):
        raise TypeError(f"only Defence subclasses can be registered, not {cls!r}")
    fam = cls.family
    if not isinstance(fam, str) or not _FAMILY.match(fam):
        raise ValueError(f"{cls.__name__}.family must be a lower-case word, not {fam!r}")
    head, colon, arg = cls.spec_form.partition(":")
    if head != fam or (colon and not arg):
        raise ValueError(f"{cls.__name__}.spec_form must be '{fam}' or '{fam}:ARG', not {cls.spec_form!r}")
    if colon and cls.spec_param is None and cls.spec_params is Defence.spec_params:
        raise ValueError(f"{cls.__name__} takes an argument: set spec_param or override spec_params")
    if fam in _REGISTRY and _REGISTRY[fam] is not cls:
        raise ValueError(f"two defences are named {fam!r}: {_REGISTRY[fam].__name__} and {cls.__name__}")
    _REGISTRY[fam] = cls
    return cls


def registered() -> tuple[type[Defence], ...]:
    """Every registered defence class, in registration order (built-in ones first)."""
    return tuple(_REGISTRY.values())


def names() -> tuple[str, ...]:
    """The registered families: ``("none", "noise", ...)``."""
    return tuple(_REGISTRY)


def spec_forms() -> tuple[str, ...]:
    """How each family is written on the command line: ``("none", "noise:SCALE", ...)``."""
    return tuple(cls.spec_form for cls in _REGISTRY.values())


def colour(family: str) -> str:
    """The plot colour of ``family`` (grey for a family no longer registered)."""
    cls = _REGISTRY.get(family)
    return cls.colour if cls is not None else Defence.colour


def parameters(cls: type[Defence]) -> dict[str, bool]:
    """The parameters ``get()`` passes to ``cls``: its ``__init__``'s, each with whether it is required."""
    out = {}
    for p in inspect.signature(cls).parameters.values():
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            out[p.name] = p.default is p.empty
    return out


def get(name: str, **params) -> Defence:
    """A defence by name with its parameters, e.g. ``get("noise", scale=0.01)``, ``get("pq", m=16, nbits=8)``,
    ``get("rotate", seed=7)``. The result is a callable on (n, d) arrays (fit it first if ``needs_fit``)."""
    if name not in _REGISTRY:
        raise InputError(f"unknown defence '{name}': use one of {', '.join(names())}")
    cls = _REGISTRY[name]
    allowed = parameters(cls)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "no parameters"
        raise InputError(f"defence '{name}' has no parameter {', '.join(unknown)}: it takes {takes}")
    if any(required and p not in params for p, required in allowed.items()):
        raise InputError(f"defence '{name}' needs its parameter(s) {', '.join(allowed)}")
    return cls(**params)


def parse(spec: str) -> Defence:
    """A defence from its command-line name: ``noise:0.01``, ``mask:0.5``, ``rotate:7``, ``int8``,
    ``binary``, ``pq:16x8``, ``pca:128``, ``ldp:8``, ``none`` (or any registered family's form)."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"empty defence name: use one of {', '.join(spec_forms())}")
    spec = spec.strip()
    if not spec.isprintable():
        raise InputError(f"defence {ascii(spec)} holds a control character (a newline, tab or the like): "
                         f"write each spec on one line, e.g. noise:0.1")
    name, _, arg = spec.partition(":")
    name = name.strip().lower()
    arg = arg.strip()
    if name not in _REGISTRY:
        raise InputError(f"unknown defence '{spec}': use one of {', '.join(spec_forms())}")
    cls = _REGISTRY[name]
    if not cls.takes_argument():
        if arg:
            raise InputError(f"defence '{name}' takes no parameter (got '{spec}')")
        return get(name)
    if not arg:
        raise InputError(f"defence '{name}' needs a parameter: write it as {cls.spec_form}")
    try:  # only the conversions: an InputError of the defence itself (also a ValueError) must pass
        params = cls.spec_params(arg)
    except ValueError:
        raise InputError(f"bad parameter in '{spec}': write it as {cls.spec_form}") from None
    try:
        return get(name, **params)
    except InputError as exc:
        raise InputError(f"bad parameter in '{spec}': {exc}") from None


def parse_list(specs) -> list[Defence]:
    """Defences from comma-separated specs (a string or a list of strings); duplicates refused."""
    items = [specs] if isinstance(specs, str) else list(specs)
    out = [parse(s) for item in items for s in str(item).split(",") if s.strip()]
    if not out:
        raise InputError(f"no defence given: use one or more of {', '.join(spec_forms())}, comma-separated")
    seen: set[str] = set()
    for d in out:
        if d.spec in seen:
            raise InputError(f"defence {d.spec} is listed twice")
        seen.add(d.spec)
    return out
