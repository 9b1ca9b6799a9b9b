"""Sentence splitting and cleaning: raw source text into natural English sentences.

Pure functions (standard library only). :func:`clean_text` is the default cleaner of every source;
a source whose register needs other rules (records with e-mail addresses, technical text with
options and paths) passes its own cleaner (``Source.clean``).
"""
from __future__ import annotations

import re
import unicodedata

__all__ = ["split_sentences", "clean_text", "dedupe_key", "non_ascii", "balanced"]


def dedupe_key(text: str) -> str:
    """The key two texts share when they are duplicates: case-folded, whitespace folded."""
    return " ".join(text.casefold().split())


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


def non_ascii(text: str) -> tuple[int, int]:
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


def balanced(text: str) -> bool:
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
        if non_ascii(inner)[1] or _JUNK_PAREN_WORDS.search(inner):
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
    if _JUNK.search(text) or not balanced(text):
        return None
    first_alpha = next((c for c in text if c.isalpha()), "")
    if not first_alpha or first_alpha.islower():
        # a fragment left by a bad sentence split, or not a sentence at all
        lead = next((c for c in text if c.isalnum()), "")
        if not lead.isdigit():
            return None
    accented, foreign = non_ascii(text)
    if foreign:
        return None
    letters = sum(1 for c in text if c.isalpha())
    if accented > 0.15 * letters or letters + text.count(" ") < 0.6 * len(text):
        return None
    words = sum(1 for w in text.split() if any(c.isalpha() for c in w))
    if words < min_words:
        return None
    return text
