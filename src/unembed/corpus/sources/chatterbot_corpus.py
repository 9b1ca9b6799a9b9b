"""English dialogues of chatterbot-corpus (PyPI): held out (dialogue register).

Read: ``chatterbot_corpus/data/english/*.yml`` with a safe YAML loader: one document a
conversation, its turns in order (a turn may hold several sentences). Dropped: the other
languages, the category lists, and non-string turns. Held out (``role="heldout"``): never trained
on, an evaluation set of its own.

Manual pages, Debian ``copyright`` files, changelogs, licence texts and READMEs are held out or
boilerplate and skipped (:func:`._technical.is_held_out_path`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from ._technical import is_held_out_path
from .base import Source, SourceUnavailable

log = logging.getLogger(__name__)


def conversations(data) -> Iterator[list[str]]:
    """The sentences of each conversation of one corpus file's data."""
    items = data.get("conversations") if isinstance(data, dict) else None
    for conversation in items or []:
        if not isinstance(conversation, list):
            continue
        sentences = [s for turn in conversation if isinstance(turn, str) for s in split_sentences(" ".join(turn.split()))]
        if sentences:
            yield sentences


def read(root: Path) -> Iterator[list[str]]:
    try:
        import yaml
    except ImportError:
        raise SourceUnavailable("PyYAML is not installed (pip install pyyaml)") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    files = sorted(p for p in root.rglob("*.yml") if p.parent.name == "english" and not is_held_out_path(p))
    if not files:
        raise SourceUnavailable("no chatterbot_corpus/data/english/*.yml inside the package")
    for path in files:
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        except (OSError, ValueError, yaml.YAMLError) as e:
            log.warning("chatterbot corpus file %s skipped: %s", path.name, str(e).splitlines()[0])
            continue
        yield from conversations(data)


SOURCE = register(Source(
    name="chatterbot-corpus", kind="pypi", package="chatterbot-corpus", version="1.3.3", licence="BSD-3-Clause",
    register="dialogue", description="chatterbot-corpus English conversations (held out)", read=read,
    role="heldout",
))
