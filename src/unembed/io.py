"""Files that must never be half-written, and JSON read back with a one-line error.

:func:`atomic_write` is the project's one way to write a file that a crash must not leave half
written (checkpoints, weights, manifests, summaries, results): the bytes go to a temporary file in
the same folder, are flushed and fsynced, and the temporary file is then renamed over the target
(``os.replace`` is atomic on POSIX and Windows). A reader sees the old file or the new one, never a
mixture. Appending streams (``results.jsonl``) are not written here: they are repaired on resume.

Layer rule: pure standard library; imports nothing from unembed but its errors.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import CheckpointError

__all__ = ["atomic_write", "write_json", "read_json"]


def atomic_write(path: str | os.PathLike, data: bytes | str, mode: int | None = None) -> Path:
    """Write ``data`` (str is UTF-8 encoded) to ``path`` atomically; ``mode``: file permissions.

    The temporary file lives beside the target (so the rename never crosses file systems) and is
    removed if anything fails, including an interrupt."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        else:  # mkstemp creates 0600; give the file the permissions a plain open() would
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2, mode: int | None = None) -> Path:
    """``obj`` as JSON (UTF-8, non-ASCII kept), written atomically with a final newline."""
    return atomic_write(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n", mode=mode)


def read_json(path: str | os.PathLike, what: str = "", error: type[Exception] = CheckpointError) -> Any:
    """The JSON in ``path``; an unreadable or corrupt file raises ``error`` with one line saying so."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise error(f"{what or path} is unreadable or corrupt (JSON nested too deeply); delete it to redo that step") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "msg", None) or str(exc)
        raise error(f"{what or path} is unreadable or corrupt ({reason}); delete it to redo that step") from None
