"""Helpers shared by the sources that read documentation: prose out of HTML, and a technical cleaner.

- :func:`read_text_file` reads a file of a package, gzipped or not.
- :func:`html_paragraphs` / :func:`html_document` extract the prose paragraphs of an HTML page: text
  of ``<p>``, ``<li>``, ``<dd>`` and similar blocks; code blocks (``<pre>``), tables, headings,
  definition terms, scripts, styles and navigation (``<nav>``, headers, footers, sidebars,
  breadcrumbs, tables of contents) are dropped.
- :func:`is_held_out_path` tells the paths no corpus may read: manual pages (``usr/share/man``),
  Debian ``copyright`` files, changelogs and licence texts. These are held out (the customer's
  evaluation material, or boilerplate); every reader here skips them.
- :func:`clean_technical` is the cleaner of technical prose: it keeps a sentence with inline
  identifiers (``--verbose``, ``/etc/fstab``, ``foo_bar()``, ``CONFIG_X=y``) when it is still mostly
  words, and drops code lines, URLs and e-mail addresses.
- :func:`clean_name_line` keeps ``Name <email>`` lines (the register "names").

This module registers no source (its name starts with ``_``).
"""
from __future__ import annotations

import gzip
import re
import string
import unicodedata
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

from ..cleaning import balanced, clean_text, split_sentences

__all__ = [
    "read_text_file", "html_paragraphs", "html_document", "paragraphs_to_sentences", "is_held_out_path",
    "clean_technical", "clean_name_line", "is_identifier", "cap_documents", "find_dir", "html_pages", "read_html_pages",
]


def read_text_file(path: Path) -> str:
    """The text of ``path`` (UTF-8, replacing bad bytes), decompressed when it ends in ``.gz``."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------
# Paths that are held out or boilerplate
# ---------------------------------------------------------------------------------------------

_BOILERPLATE_NAMES = re.compile(
    r"^(?:copyright|copying|licen[cs]e|gpl|lgpl|changelog|changes|news|history|authors|credits|thanks|"
    r"readme|install)(?:[._-].*)?$",
    re.IGNORECASE,
)
# Of HTML pages only licence and changelog pages are boilerplate ("install.html" is a manual page
# about installing, not an INSTALL file).
_BOILERPLATE_PAGES = re.compile(r"^(?:copyright|copying|licen[cs]e|gpl|lgpl|gfdl|fdl|changelog)(?:[._-].*)?$",
                                re.IGNORECASE)


def is_held_out_path(path: Path | str) -> bool:
    """True for a path no source may read: manual pages of any section (``usr/share/man``) and
    Debian ``copyright`` files are held out (evaluation material); changelogs, licence texts and
    READMEs are boilerplate."""
    parts = PurePosixPath(str(path)).parts
    if any(parts[i : i + 3] == ("usr", "share", "man") for i in range(len(parts))):
        return True  # manual pages: held out
    if "man" in parts and any(p.startswith("man") and p[3:].isdigit() for p in parts):
        return True  # man1, man3, ... folders: held out
    name = parts[-1] if parts else ""
    if name.endswith((".html", ".htm", ".html.gz")):
        return bool(_BOILERPLATE_PAGES.match(name))
    return bool(_BOILERPLATE_NAMES.match(name))


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

_BLOCKS = frozenset(
    "p li dd dt div section article blockquote ul ol dl table tr td th pre h1 h2 h3 h4 h5 h6 br hr body "
    "figure figcaption caption form header footer nav aside main tbody thead title".split()
)
_SKIP_TAGS = frozenset(
    "pre script style table nav header footer aside h1 h2 h3 h4 h5 h6 dt title head form select button "
    "figcaption caption svg math object noscript iframe code-block".split()
)
# A class (one of an element's class names, matched whole) or role that marks navigation or code.
_SKIP_CLASS = re.compile(
    r"nav|navbar|navigation|navheader|navfooter|sidebar|sphinxsidebar|related|footer|header|breadcrumbs?|"
    r"toc|toctree-wrapper|contents|menu|topbar|highlight(?:-[\w-]+)?|literal-block(?:-wrapper)?|codehilite|"
    r"doctest|admonition-title|headerlink|screen|programlisting|synopsis|cmdsynopsis|funcsynopsis|"
    r"legalnotice|copyright|banner|search|rst-footer-buttons|wy-breadcrumbs|sourcecode|example-code|code",
    re.IGNORECASE,
)
_INLINE = frozenset("span a code tt em strong b i kbd samp var abbr cite q small sub sup".split())
_VOID = frozenset("br hr img input meta link area base col embed param source track wbr".split())


class _ProseParser(HTMLParser):
    """Collects the text of prose blocks, skipping code, tables, headings and navigation."""

    def __init__(self, skip_class: re.Pattern | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._buffer: list[str] = []
        self._skip: list[list] = []  # [tag, nesting of that tag inside the skipped element]
        self._skip_class = skip_class

    def _flush(self) -> None:
        text = " ".join("".join(self._buffer).split())
        self._buffer = []
        if text:
            self.paragraphs.append(text)

    def _starts_skip(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if tag in _SKIP_TAGS:
            return True
        for key, value in attrs:
            if key in ("class", "role") and value and any(
                _SKIP_CLASS.fullmatch(v) or (self._skip_class is not None and self._skip_class.fullmatch(v))
                for v in value.split()
            ):
                return tag not in _INLINE or key == "role"
        return False

    def handle_starttag(self, tag: str, attrs) -> None:
        if self._skip:
            if tag == self._skip[-1][0] and tag not in _VOID:
                self._skip[-1][1] += 1
            return
        if tag in _BLOCKS:
            self._flush()
        if tag not in _VOID and self._starts_skip(tag, attrs):
            self._skip.append([tag, 0])

    def handle_startendtag(self, tag: str, attrs) -> None:
        if not self._skip and tag in _BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            top = self._skip[-1]
            if tag == top[0]:
                if top[1] == 0:
                    self._skip.pop()
                else:
                    top[1] -= 1
            return
        if tag in _BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_paragraphs(html: str, skip_class: re.Pattern | None = None) -> list[str]:
    """The prose paragraphs of an HTML page, in order (whitespace folded); ``skip_class`` names
    more class names (matched whole) to skip besides the default navigation and code classes."""
    parser = _ProseParser(skip_class)
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # malformed markup: keep what was read
        parser._flush()
    return parser.paragraphs


_SENTENCE_END = re.compile(r"[.!?:][\"')\]]*$")


def paragraphs_to_sentences(paragraphs: list[str], min_words: int = 4) -> list[str]:
    """Sentences of the paragraphs in order; a paragraph of fewer than ``min_words`` words or one
    without a sentence end (a heading, a label, a menu entry) is dropped."""
    out: list[str] = []
    for paragraph in paragraphs:
        if len(paragraph.split()) < min_words or not _SENTENCE_END.search(paragraph):
            continue
        # An ellipsis between spaces elides part of a command ("ALTER SUBSCRIPTION ... DISABLE"),
        # it does not end a sentence.
        protected = paragraph.replace(" ... ", " \x00 ")
        out.extend(s.replace("\x00", "...") for s in split_sentences(protected))
    return out


def html_document(path: Path, skip_class: re.Pattern | None = None) -> list[str]:
    """The sentences of the HTML page at ``path`` (gzipped or not), in order."""
    return paragraphs_to_sentences(html_paragraphs(read_text_file(path), skip_class))


def cap_documents(documents, max_sentences: int):
    """Yield documents in the given (deterministic) order until ``max_sentences`` sentences have
    been yielded; the document that crosses the cap is the last one."""
    total = 0
    for doc in documents:
        if total >= max_sentences:
            return
        total += len(doc)
        yield doc


# ---------------------------------------------------------------------------------------------
# The technical cleaner
# ---------------------------------------------------------------------------------------------

_URL_OR_MAIL = re.compile(r"https?://|ftp://|www\.|\w@\w|\.(?:com|org|net|html?)\b|mailto:")
_CODE_LINE = re.compile(
    r"^\s*(?:\$|#|>>>|//|/\*|\*|%|\.\.|[{}\[\]])\s|[;{]\s*$|^\s*(?:def|class|import|from|return|if|for|while|"
    r"int|void|char|struct|static|const|let|var|function|public|private)\b[^.]*[({=;]|==|!=|&&|\|\||->|=>|::\w"
)
_IDENT_CHARS = set("_/=(){}[]<>#*@~\\|$%+&`")
_DASH_OPTION = re.compile(r"^--?[A-Za-z][\w-]*(?:=\S+)?$")
_DOTTED_NAME = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")
_ABBREVIATION = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]?$|^(?:etc|vs|al|cf|approx|ca)$", re.IGNORECASE)
_LEAD = "(\"'"
_TRAIL = ".,;:!?\"'"
_PLACEHOLDERS = [f"Zq{a}{b}" for a in string.ascii_lowercase for b in string.ascii_lowercase]


def is_identifier(core: str) -> bool:
    """True for an inline identifier: an option (``--verbose``), a path (``/etc/fstab``), a call
    (``foo_bar()``), a setting (``CONFIG_X=y``), a dotted name (``os.path``) or the like."""
    if not core or _ABBREVIATION.match(core):
        return False
    if _DASH_OPTION.match(core) or _DOTTED_NAME.match(core):
        return True
    return any(c in _IDENT_CHARS for c in core) and any(c.isalnum() for c in core)


def _split_token(token: str) -> tuple[str, str, str]:
    """(leading punctuation, core, trailing punctuation) of a whitespace token."""
    lead = ""
    while token and token[0] in _LEAD and not (token[0] == "(" and token.count("(") <= token.count(")")
                                               and len(token) > 1 and token[1] != ")"):
        lead, token = lead + token[0], token[1:]
    trail = ""
    while token:
        c = token[-1]
        if c in _TRAIL or (c == ")" and token.count(")") > token.count("(")):
            trail, token = c + trail, token[:-1]
        else:
            break
    return lead, token, trail


def clean_technical(text: str, *, max_identifier_share: float = 0.34, min_words: int = 4) -> str | None:
    """Clean one sentence of technical prose, or return None.

    Inline identifiers (see :func:`is_identifier`, also ``backquoted`` words) are masked while the
    sentence goes through the default :func:`~unembed.corpus.cleaning.clean_text`, then put back,
    so a sentence about ``--verbose`` or ``/etc/fstab`` survives. Dropped: code lines (shell prompts,
    statements ending in ``;`` or ``{``, comparisons, definitions), sentences whose identifiers are
    more than ``max_identifier_share`` of the words or longer than 40 characters, URLs and e-mail
    addresses, and whatever the default cleaner drops."""
    text = " ".join(text.replace("``", "").split())
    if not text or _URL_OR_MAIL.search(text) or _CODE_LINE.search(text):
        return None
    tokens = text.split(" ")
    masked: list[str] = []
    originals: dict[str, str] = {}
    for token in tokens:
        lead, core, trail = _split_token(token)
        if core.startswith("`") and core.endswith("`") and len(core) > 2:
            core = core.strip("`")
        elif "`" in core:
            return None
        if is_identifier(core):
            if len(core) > 40 or len(originals) >= len(_PLACEHOLDERS):
                return None
            placeholder = _PLACEHOLDERS[len(originals)]
            originals[placeholder] = core
            masked.append(lead + placeholder + trail)
        else:
            masked.append(lead + core + trail)
    if len(originals) > max_identifier_share * len(tokens):
        return None
    cleaned = clean_text(" ".join(masked), min_words=min_words)
    if cleaned is None:
        return None
    if originals:
        plain = [w for w in cleaned.split() if not any(p in w for p in originals)]
        if sum(1 for w in plain if any(c.isalpha() for c in w)) < min_words:
            return None
        for placeholder, core in originals.items():
            if placeholder not in cleaned:
                return None  # dropped with a parenthetical: the sentence no longer reads right
            cleaned = cleaned.replace(placeholder, core, 1)
    return cleaned


# ---------------------------------------------------------------------------------------------
# Name lines
# ---------------------------------------------------------------------------------------------

_NAME_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_NAME_LINE = re.compile(r"^(\"?[^\W\d_][^<>@\[\]]{1,60}?)\s*<([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>$")


_NAME_TAIL = re.compile(r"(?<=>)\s*(?:\([^()]*\))?\s*[,;]?\s*$")


def _latin(name: str) -> bool:
    return all(c.isascii() or (c.isalpha() and "LATIN" in unicodedata.name(c, "")) for c in name)


def clean_name_line(text: str) -> str | None:
    """A ``Name <user@example.org>`` line, whitespace folded, or None. A trailing comma or
    parenthetical note after the address is removed; the name must be one to six words of Latin
    letters (accents allowed); the e-mail address is kept as it is."""
    text = _NAME_TAIL.sub("", " ".join(text.translate(_NAME_QUOTES).split()))
    m = _NAME_LINE.match(text)
    if m is None:
        return None
    name = m.group(1).strip().rstrip(",")
    words = name.split()
    if not 1 <= len(words) <= 6 or not _latin(name) or not balanced(name) or name.count('"') % 2:
        return None
    return f"{name} <{m.group(2)}>"


# ---------------------------------------------------------------------------------------------
# Trees of HTML pages
# ---------------------------------------------------------------------------------------------


def find_dir(root: Path, relative: str) -> Path:
    """The folder ``root/relative`` (``relative`` a POSIX path); SourceUnavailable when missing."""
    from ..fetch import SourceUnavailable

    folder = root / relative
    if not folder.is_dir():
        raise SourceUnavailable(f"no {relative} inside the package")
    return folder


def html_pages(folder: Path, skip=None, suffixes: tuple[str, ...] = (".html", ".htm", ".html.gz")) -> list[Path]:
    """The HTML pages under ``folder`` in path order, less held-out and boilerplate paths (see
    :func:`is_held_out_path`) and those for which ``skip(relative_posix_path)`` is true."""
    out = []
    for path in sorted(folder.rglob("*")):
        if not path.name.endswith(suffixes) or not path.is_file():
            continue
        rel = path.relative_to(folder).as_posix()
        if is_held_out_path(path) or (skip is not None and skip(rel)):
            continue
        out.append(path)
    return out


def read_html_pages(pages: list[Path], max_sentences: int | None = None, skip_class: re.Pattern | None = None):
    """One document a page (its prose sentences in order), empty pages left out, capped at
    ``max_sentences`` sentences (pages in the given order) when given."""
    documents = (d for d in (html_document(p, skip_class) for p in pages) if d)
    if max_sentences is None:
        yield from documents
    else:
        yield from cap_documents(documents, max_sentences)
