"""Trivia questions from Red-Trivia (GPL-3.0), read from its YAML lists."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterator

from . import register
from .base import Source, SourceUnavailable

log = logging.getLogger(__name__)


_TRIVIA_TAG = re.compile(r"^\s*(?:\([^()]{1,40}\)|\[[^\[\]]{1,40}\])\s*")


def read(root: Path) -> Iterator[list[str]]:
    try:
        import yaml
    except ImportError:
        raise SourceUnavailable("PyYAML is not installed (pip install pyyaml)") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    files = sorted(p for p in root.rglob("*.yaml") if p.parent.name == "lists")
    if not files:
        raise SourceUnavailable("no trivia lists inside the package")
    for path in files:
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        except (OSError, ValueError, yaml.YAMLError) as e:
            log.warning("trivia list %s skipped: %s", path.name, str(e).splitlines()[0])
            continue
        if not isinstance(data, dict):
            continue
        for key in data:
            if key in ("AUTHOR", "CONFIG") or not isinstance(key, str):
                continue
            question = _TRIVIA_TAG.sub("", key)
            yield [question]


SOURCE = register(Source(
    name="trivia", kind="pypi", package="Red-Trivia", version="1.1.1", licence="GPL-3.0",
    register="questions", description="trivia questions (~10k)", read=read,
))
