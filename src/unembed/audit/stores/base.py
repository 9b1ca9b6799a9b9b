"""What every store reader shares: the reader protocol, batches, errors and URI helpers.

Readers never write to a store. Clients with no read-only mode that write to their files when they
open them (Milvus Lite builds indexes and load state; Chroma and Qdrant local may migrate or
checkpoint) are pointed at a private copy of the store (:meth:`BaseReader.private_copy`), deleted
on :meth:`BaseReader.close` (and so on SIGTERM and Ctrl-C, which the command line turns into an
exception). The copy lives in a folder named ``unembed-store-PID-*`` under the folder
:func:`private_copies_under` names (an audit names ``OUT/private-copies``), else the temporary
folder; a copy left by a process that was killed with SIGKILL is removed by the next
:func:`sweep_private_copies` of that folder (every private copy sweeps first). A path is absolute with three slashes (``chroma:///srv/store``) and
relative to the working directory with two (``chroma://demo_out/store``).

Every reader has ``kind``, ``lossy`` (its vectors are approximations, e.g. FAISS PQ/SQ codes) and
``notes`` (facts the audit report should show), and is a context manager.

Sampled audits read only the sampled rows where the store allows it: a reader with ``positional``
set reads rows by their position in the store's reading order (:meth:`BaseReader.read_positions`:
FAISS, LanceDB); the others list their ids cheaply (:meth:`BaseReader.ids`, without vectors) and
fetch records by id (:meth:`BaseReader.fetch`). The defaults here fall back on a full scan.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol
from urllib.parse import unquote

import numpy as np

from ...errors import InputError, UnembedError

log = logging.getLogger("unembed.audit.stores")

__all__ = ["in_order", "Batch", "StoreReader", "StoreError", "BaseReader", "missing_client", "redact", "uri_path", "check_params",
           "choose", "pick_document", "as_text", "DOCUMENT_KEYS", "private_copies_under", "sweep_private_copies",
           "COPY_PREFIX"]

#: the name every private copy's folder starts with, followed by the owning process id
COPY_PREFIX = "unembed-store-"
_COPY_ROOT: contextvars.ContextVar[Path | None] = contextvars.ContextVar("unembed_private_copy_root", default=None)


@contextlib.contextmanager
def private_copies_under(folder: str | os.PathLike | None):
    """Within this block, readers make their private copies under ``folder`` (created 0700)."""
    token = _COPY_ROOT.set(Path(folder) if folder is not None else None)
    try:
        yield
    finally:
        _COPY_ROOT.reset(token)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def sweep_private_copies(folder: str | os.PathLike) -> list[Path]:
    """Remove the private copies under ``folder`` whose process is gone (killed with SIGKILL, say);
    returns the folders removed. Copies of running processes are left alone."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for child in folder.glob(COPY_PREFIX + "*"):
        pid = child.name[len(COPY_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or (int(pid) != os.getpid() and _alive(int(pid))):
            continue
        if int(pid) == os.getpid() and child in _LIVE_COPIES:
            continue
        shutil.rmtree(child, ignore_errors=True)
        if not child.exists():
            removed.append(child)
            log.warning("removed a private copy of a store left by an interrupted process: %s", child)
    return removed


_LIVE_COPIES: set[Path] = set()


def _remove_copy(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    _LIVE_COPIES.discard(Path(path))

#: payload / column names tried, in order, when the URI does not name the document field
DOCUMENT_KEYS = ("document", "text", "page_content", "content", "chunk", "body", "passage")

@dataclass
class Batch:
    ids: list[str]
    vectors: np.ndarray
    documents: list[str | None] | None = None


class StoreReader(Protocol):
    uri: str
    kind: str
    lossy: bool
    notes: list[str]

    def count(self) -> int: ...
    def batches(self, batch_size: int = 256) -> Iterator[Batch]: ...
    def close(self) -> None: ...
    # optional, for sampled audits (BaseReader has scanning defaults)
    positional: bool
    def read_positions(self, positions, batch_size: int = 256) -> Iterator[Batch]: ...
    def ids(self, batch_size: int = 4096) -> Iterator[list[str]]: ...
    def fetch(self, ids, batch_size: int = 256) -> Iterator[Batch]: ...


class StoreError(UnembedError):
    """A store could not be opened or read."""


def missing_client(extra: str, module: str) -> StoreError:
    return StoreError(f"the {extra} store needs the '{module}' client: pip install 'unembed[{extra}]'")


class BaseReader:
    """Defaults shared by the readers: notes, a private copy's cleanup, the context manager."""

    kind = "store"
    label = "this store's client"  # for notes: "Chroma", "Milvus Lite"...

    def __init__(self, uri: str):
        self.uri = uri
        self.lossy = False
        self.notes: list[str] = []
        self._tmp: str | None = None

    # -- a private copy, for clients that write when they open a store -----------------------------
    def private_copy(self, path: Path, only: list[str] | None = None) -> Path:
        """Copy ``path`` (file or folder) into a temporary folder and return the copy's path; with
        ``only``, just those files and folders of it (relative paths: what the client will read)."""
        size = _size(path) if only is None else sum(_size(path / rel) for rel in only if (path / rel).exists())
        root = _COPY_ROOT.get() or Path(tempfile.gettempdir())
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            sweep_private_copies(root)
            self._tmp = tempfile.mkdtemp(prefix=f"{COPY_PREFIX}{os.getpid()}-", dir=root)
        except OSError as exc:
            raise StoreError(f"cannot make a private copy of the store under {root}: {exc.strerror or exc}; "
                             "choose another --out") from None
        _LIVE_COPIES.add(Path(self._tmp))
        self.private_copy_path = Path(self._tmp)
        # removed on close(), or when the reader is garbage-collected or the process exits
        self._cleanup = weakref.finalize(self, _remove_copy, self._tmp)
        free = shutil.disk_usage(self._tmp).free
        if size > free:
            self.close()
            raise StoreError(f"reading {self.kind} read-only needs a private copy of {path} ({size / 1e9:.2f} GB) "
                             f"but {root} has {free / 1e9:.2f} GB free: choose an --out on a bigger disk")
        dest = Path(self._tmp) / path.name
        try:
            if only is not None:
                for rel in only:
                    src, to = path / rel, dest / rel
                    to.parent.mkdir(parents=True, exist_ok=True)
                    if src.is_dir():
                        shutil.copytree(src, to, ignore=shutil.ignore_patterns("*.lock", "LOCK", ".lock"))
                    elif src.exists():
                        shutil.copy2(src, to)
            elif path.is_dir():
                shutil.copytree(path, dest, ignore=shutil.ignore_patterns("*.lock", "LOCK", ".lock"))
            else:
                shutil.copy2(path, dest)
        except OSError as exc:
            self.close()
            raise StoreError(f"cannot copy {path} to read it: {exc}") from None
        except BaseException:  # Ctrl-C or SIGTERM while copying
            self.close()
            raise
        what = "of the store" if only is None else "of the parts of the store it reads (" + ", ".join(only) + ")"
        self.notes.append(f"{self.label} has no read-only mode, so the audit read a private copy "
                          f"({size / 1e6:.1f} MB) {what} at {self._tmp}; the original was not opened by the client")
        return dest

    #: where this reader's private copy lives (None: it reads the store itself)
    private_copy_path: Path | None = None

    def close(self) -> None:
        if self._tmp:
            where = self._tmp
            self._cleanup()
            self._tmp = None
            gone = not os.path.exists(where)
            self.notes.append(f"the private copy at {where} was {'removed' if gone else 'NOT removed (delete it)'} "
                              "when the reader closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def describe(self) -> dict:
        return {"uri": redact(self.uri), "kind": self.kind, "lossy": self.lossy, "notes": list(self.notes)}

    # -- reading only some rows (sampled audits) -----------------------------------------------------
    #: rows can be read by position in the reading order of :meth:`batches` (``read_positions``)
    positional = False
    #: how :meth:`fetch` reads rows: "ids" (by key, from the store) or "scan" (a full pass)
    fetch_method = "scan"

    def read_positions(self, positions, batch_size: int = 256) -> Iterator[Batch]:
        """The rows at these positions (sorted, ascending) of the reading order; default: a scan."""
        wanted = np.asarray(positions, dtype=np.int64)
        pos, k = 0, 0
        for b in self.batches(batch_size):
            n = len(b.ids)
            lo = k
            while k < len(wanted) and wanted[k] < pos + n:
                k += 1
            if k > lo:
                rows = (wanted[lo:k] - pos).tolist()
                yield _subset(b, rows)
            pos += n
            if k >= len(wanted):
                return

    def ids(self, batch_size: int = 4096) -> Iterator[list[str]]:
        """Every record's id, page by page, in the reading order of :meth:`batches`; default: a scan."""
        for b in self.batches(min(batch_size, 1024)):
            yield list(b.ids)

    def fetch(self, ids, batch_size: int = 256) -> Iterator[Batch]:
        """The records with these ids, in the order given (pages of ``batch_size``); default: a scan."""
        order = [str(i) for i in ids]
        want = {i: k for k, i in enumerate(order)}
        found: dict[str, tuple] = {}
        for b in self.batches(1024):
            docs = b.documents if b.documents is not None else [None] * len(b.ids)
            for i, v, d in zip(b.ids, b.vectors, docs):
                if str(i) in want:
                    found[str(i)] = (np.asarray(v, dtype=np.float32), d)
            if len(found) == len(want):
                break
        yield from in_order(order, found, batch_size, with_docs=True)


def _subset(b: Batch, rows: list[int]) -> Batch:
    return Batch(ids=[b.ids[r] for r in rows], vectors=np.asarray(b.vectors)[rows],
                 documents=None if b.documents is None else [b.documents[r] for r in rows])


def in_order(order: list[str], found: dict, batch_size: int, with_docs: bool) -> Iterator[Batch]:
    """Batches of ``found`` (id -> (vector, document)) in ``order``; an id not found is an error."""
    missing = [i for i in order if i not in found]
    if missing:
        raise StoreError(f"{len(missing)} records vanished from the store while it was read (e.g. id {missing[0]!r})")
    for start in range(0, len(order), batch_size):
        part = order[start:start + batch_size]
        yield Batch(ids=part, vectors=np.stack([found[i][0] for i in part]).astype(np.float32),
                    documents=[found[i][1] for i in part] if with_docs else None)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def redact(uri: str) -> str:
    """``uri`` without a password or an API key, on one printable line (for summaries, reports and errors).

    Read without ``urlparse``, which refuses some malformed URIs (``[`` in the host): a password is
    hidden in those too."""
    uri = str(uri)
    scheme, sep, rest = uri.partition("://")
    if sep:
        end = min([i for i in (rest.find(c) for c in "/?#") if i >= 0], default=len(rest))
        netloc = rest[:end]
        user, at, host = netloc.rpartition("@")
        if at and ":" in user and user.partition(":")[2]:
            rest = f"{user.partition(':')[0]}:***@{host}{rest[end:]}"
        uri = scheme + sep + rest
    uri = re.sub(r"([?&](?:api_key|apikey|password|token)=)[^&#]+", r"\1***", uri, flags=re.IGNORECASE)
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in uri)


def uri_path(parsed, uri: str) -> Path:
    """The filesystem path of a file-backed store URI (``x:///abs`` or ``x://relative``)."""
    path = unquote(parsed.netloc + parsed.path)
    if not path:
        raise InputError(f"store URI '{uri}' names no path: write {parsed.scheme}:///ABSOLUTE/PATH or {parsed.scheme}://RELATIVE/PATH")
    return Path(path).expanduser()


def check_params(uri: str, query: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise InputError(f"store URI '{redact(uri)}': unknown parameter(s) {', '.join(unknown)}; "
                         f"this store takes {', '.join(allowed) or 'none'}")


def choose(uri: str, names, wanted: str | None, what: str = "collection", param: str | None = None,
           joiner: str = "?", not_found: str | None = None) -> str:
    """The one ``what`` (collection, table, vector column) a URI means: the named one, or the only one.

    ``joiner`` is how the URI adds the parameter (``?`` first, ``&`` after another); ``not_found``
    words the error for a name that is not there (``{wanted}`` and ``{found}`` are filled in)."""
    names = list(names)
    param = param or what
    found = ", ".join(map(str, names)) or "none"
    if wanted is None:
        if len(names) != 1:
            raise StoreError(f"{uri}: name a {what} with {joiner}{param}=NAME (found: {found})")
        return names[0]
    if wanted not in names:
        if not_found:
            raise StoreError(f"{uri}: " + not_found.format(wanted=wanted, found=found))
        raise StoreError(f"{uri}: no {what} '{wanted}' (found: {found})")
    return wanted


def pick_document(keys, wanted: str | None, where: str) -> str | None:
    """The document field: the one named in the URI (must exist), else the first of DOCUMENT_KEYS."""
    keys = list(keys)
    if wanted is not None:
        if wanted not in keys:
            raise StoreError(f"{where}: no field '{wanted}' for the documents (fields: {', '.join(map(str, keys)) or 'none'})")
        return wanted
    return next((k for k in DOCUMENT_KEYS if k in keys), None)


def as_text(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)

