"""A Python callable ``fn(list[str]) -> array`` as an embedder."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import EmbedderError, InputError
from .base import DEFAULT_LOCAL_BATCH_SIZE, Embedder, one_line
from .registry import Adapter, register

__all__ = ["CallableEmbedder"]


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
            raise EmbedderError(f"embedding function {self.name} failed: {one_line(exc)}") from exc
        if hasattr(out, "detach"):  # a torch tensor, possibly on an accelerator
            out = out.detach().float().cpu().numpy()
        return out


register(Adapter(
    kind="callable", describe="", options=frozenset({"device", "batch_size", "name", "cased", "normalize"}),
    priority=10, matches=callable,
    load=lambda spec, options: CallableEmbedder(spec, **{k: v for k, v in options.items() if k != "device"}),
))
