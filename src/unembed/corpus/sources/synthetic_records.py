"""Synthetic correspondence and records written by Faker from templates (role "train").

E-mails, letters, chat messages, out-of-office replies, support tickets, bug reports, IT requests,
invoices, orders, shipping and payment notices, patient, customer and employee records, HR and
meeting notes, calendar entries, contract clauses, contact lines and signature blocks, with names,
e-mail addresses, phone numbers, dates, amounts and IDs in twelve locales: the register of the
vector stores an audit inverts, which no package ships. See ``_records.py`` for the generator and
``_records_train.yaml`` for the templates; ``synthetic_records_heldout`` uses a disjoint set.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from . import register
from ..tokens import default_token_counter
from ._records import FAKER_VERSION, clean_record, generate, load_templates
from .base import Source

#: About this many texts (sentences and 2-3 sentence passages) are generated.
TEXTS = 150_000
SEED = 20240611


def read(root: Path) -> Iterator[list[str]]:
    """Documents (one message or record, a list of sentences); ``root`` (a cache folder) is unused."""
    yield from generate(load_templates("train"), SEED, TEXTS, default_token_counter())


SOURCE = register(Source(
    name="synthetic_records", kind="generated", package="faker", version=FAKER_VERSION,
    licence="generated (templates Apache-2.0; Faker MIT)", register="correspondence and records",
    description="seeded e-mails, tickets, invoices, records and contact lines with PII (Faker, 12 locales)",
    read=read, clean=clean_record,
))
