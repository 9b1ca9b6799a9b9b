"""Synthetic correspondence and records, held out (role "heldout"): its own evaluation set.

The same generator as ``synthetic_records`` with a disjoint set of templates
(``_records_heldout.yaml``: no template or sentence shared, and kinds of document the train set
lacks) and another seed, so that recovery measured on it is generalisation to unseen wording, not
recall of the train templates.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from . import register
from ..tokens import default_token_counter
from ._records import FAKER_VERSION, clean_record, generate, load_templates
from .base import Source

TEXTS = 5_000
SEED = 20240612


def read(root: Path) -> Iterator[list[str]]:
    """Documents of the held-out templates; ``root`` (a cache folder) is unused."""
    yield from generate(load_templates("heldout"), SEED, TEXTS, default_token_counter())


SOURCE = register(Source(
    name="synthetic_records_heldout", kind="generated", package="faker", version=FAKER_VERSION,
    licence="generated (templates Apache-2.0; Faker MIT)", register="correspondence and records",
    description="held-out synthetic records: disjoint templates and seed (Faker, 12 locales)",
    read=read, role="heldout", clean=clean_record,
))
