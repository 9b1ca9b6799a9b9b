"""A toy defence added the way any new one is: one class, registered, in one file (imported by
test_defences.py). ``halve`` stores every vector at half its length."""
from __future__ import annotations

from unembed.defences import Defence, register


@register
class Halve(Defence):
    """``e / 2``: it changes no search result and protects nothing."""

    family = "halve"
    spec_form = "halve"
    colour = "#123456"
    description = "every vector halved"
    attack = None

    def transform(self, x):
        return x / 2
