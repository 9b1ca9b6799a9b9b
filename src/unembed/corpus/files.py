"""Reading a user's corpus file: ``.txt`` (one text per line) or ``.jsonl`` (a ``"text"`` field)."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import CorpusError

__all__ = ["read_texts", "SUPPORTED_EXTENSIONS"]

SUPPORTED_EXTENSIONS = (".txt", ".jsonl")


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
        except RecursionError:
            raise CorpusError(
                f"{path} line {lineno} is JSON nested too deeply to read; write objects like {{\"text\": \"...\"}}"
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
