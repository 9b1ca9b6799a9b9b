"""``none``: the undefended baseline, always measured first."""
from __future__ import annotations

from .base import Defence
from .registry import register

__all__ = ["NoDefence"]


@register
class NoDefence(Defence):
    """The identity: vectors stored as the embedder returns them."""

    family = "none"
    spec_form = "none"
    colour = "#1d2330"
    attack = None
