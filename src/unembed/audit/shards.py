"""Sharded audits on torch.distributed: who this process is, shard files, barriers, the merge.

``accelerate launch --num_processes P -m unembed audit ...`` or ``torchrun --nproc_per_node P -m
unembed audit ...`` start P processes with ``RANK`` and ``WORLD_SIZE`` set. Each process:

1. opens the store and selects the same records (:mod:`unembed.audit.sampling`: deterministic);
2. inverts its own chunks (chunk ``k`` goes to rank ``k % P``) and appends them, fsync'd chunk by
   chunk, to its shard file ``shards/rank-R-of-P.jsonl`` in the output folder;
3. waits for the others (a barrier of a gloo process group, which works on CPUs and beside NCCL);

then the main process (rank 0) merges ``results.jsonl`` and every shard file into one
``results.jsonl`` ordered by record position (the order a single process writes), removes the shard
files and writes summary.json and the report. An interrupted sharded audit resumes per shard: every
process skips the records already in ``results.jsonl`` or in any shard file (of any process count).

The merge streams: every file is read line by line (a k-way merge by position), so it holds one
record per file in memory.
"""
from __future__ import annotations

import heapq
import json
import logging
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Iterator

from ..distributed import Context, context

log = logging.getLogger(__name__)

__all__ = ["Context", "context", "shard_path", "shard_files", "read_ids", "repair", "count_records", "merge",
           "remove_shards", "SHARDS"]

SHARDS = "shards"


def shard_path(out: Path, rank: int, world: int, name: str = "results") -> Path:
    return Path(out) / SHARDS / f"{name}.rank-{rank:03d}-of-{world:03d}.jsonl"


def shard_files(out: Path, name: str = "results") -> list[Path]:
    folder = Path(out) / SHARDS
    return sorted(folder.glob(f"{name}.rank-*.jsonl")) if folder.is_dir() else []


def remove_shards(out: Path, name: str = "results") -> None:
    """Delete the shard files of ``name`` (after a merge), and the shards folder once it is empty."""
    for f in shard_files(out, name):
        f.unlink()
    try:
        (Path(out) / SHARDS).rmdir()
    except OSError:
        pass  # not empty (another kind of shard) or gone


def _record_id(raw: bytes) -> str | None:
    """The id of one whole, valid record line (a JSON object with an id), else None."""
    try:
        rec = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(rec, dict) or "id" not in rec or isinstance(rec["id"], (dict, list)) or rec["id"] is None:
        return None
    return str(rec["id"])


def repair(path: Path) -> set[str]:
    """Make a results file safe to append to, and return its ids.

    A whole last record without its final newline gets the newline (so the next record can never be
    glued onto it); a cut or invalid last line is dropped; an invalid line or a repeated id inside the
    file is dropped by rewriting the file (atomically) with only the valid, first-seen records.
    Every drop is logged."""
    done: set[str] = set()
    path = Path(path)
    if not path.exists():
        return done
    good = 0  # bytes of the valid prefix
    bad_inside = False  # a valid record after an invalid line: the file must be rewritten
    bad_seen = False
    missing_newline = False
    with open(path, "rb") as f:
        for raw in f:
            rid = _record_id(raw) if raw.strip() else None
            if rid is None or rid in done:
                bad_seen = True
                continue
            bad_inside = bad_inside or bad_seen
            done.add(rid)
            if not bad_seen:
                good += len(raw)
                missing_newline = not raw.endswith(b"\n")
    if bad_inside:
        _rewrite_valid(path)
    elif good < path.stat().st_size:
        log.warning("dropping a partly written record at the end of %s", path)
        with open(path, "r+b") as f:
            f.truncate(good)
    if missing_newline and not bad_inside:
        log.warning("the last record of %s had no final newline: added one", path)
        with open(path, "ab") as f:
            f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())
    return done


def _rewrite_valid(path: Path) -> None:
    seen: set[str] = set()
    dropped = 0
    tmp = path.with_name(path.name + ".repair.tmp")
    with open(path, "rb") as src, open(tmp, "wb") as sink:
        for raw in src:
            rid = _record_id(raw) if raw.strip() else None
            if rid is None or rid in seen:
                dropped += bool(raw.strip())
                continue
            seen.add(rid)
            sink.write(raw if raw.endswith(b"\n") else raw + b"\n")
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(tmp, path)
    log.warning("dropped %d invalid or repeated record lines from %s", dropped, path)


def read_ids(path: Path, truncate: bool = True) -> set[str]:
    """The ids in a results file, repaired first (:func:`repair`) unless ``truncate`` is False."""
    if truncate:
        return repair(path)
    return {rid for rid in (_record_id(raw) for raw in _raw_lines(path)) if rid is not None}


def count_records(path: Path) -> tuple[int, int, int]:
    """(valid record lines, distinct ids, invalid non-empty lines) of a results file."""
    ids: set[str] = set()
    valid = invalid = 0
    for raw in _raw_lines(path):
        if not raw.strip():
            continue
        rid = _record_id(raw)
        if rid is None or not raw.endswith(b"\n"):
            invalid += 1
            continue
        valid += 1
        ids.add(rid)
    return valid, len(ids), invalid


def _raw_lines(path: Path) -> Iterator[bytes]:
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as f:
        yield from f


def _lines(path: Path) -> Iterator[tuple[int, str, str]]:
    """(position, id, line) of each record of a file, in file order."""
    for pos, rid, line, _ in _lines_at(path):
        yield pos, rid, line


def _lines_at(path: Path) -> Iterator[tuple[int, str, str, int]]:
    """(position, id, line, byte offset) of each record of a file (a cut line ends it)."""
    offset = 0
    with open(path, "rb") as f:
        for raw in f:
            at, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
                if not isinstance(rec, dict) or "id" not in rec:
                    raise ValueError("not a record")
            except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
                log.warning("skipping an invalid record line at byte %d of %s", at, path)
                continue
            line = raw.decode("utf-8")
            yield int(rec.get("pos", -1)), str(rec["id"]), line if line.endswith("\n") else line + "\n", at


def _sorted(path: Path) -> bool:
    last = None
    for pos, _, _ in _lines(path):
        if last is not None and pos < last:
            return False
        last = pos
    return True


def _by_index(sources: list[Path], stack: ExitStack) -> Iterator[tuple[int, str, str]]:
    """Records of files not in position order: an index of (position, file, offset) sorted, then
    each line read at its offset (16 bytes a record in memory, not the records)."""
    import numpy as np

    pos, which, offsets = [], [], []
    for k, p in enumerate(sources):
        for ps, _, _, at in _lines_at(p):
            pos.append(ps)
            which.append(k)
            offsets.append(at)
    order = np.lexsort((np.asarray(offsets), np.asarray(which), np.asarray(pos)))
    files = [stack.enter_context(open(p, "rb")) for p in sources]
    for i in order:
        f = files[which[i]]
        f.seek(offsets[i])
        line = f.readline().decode("utf-8")
        yield pos[i], str(json.loads(line)["id"]), line if line.endswith("\n") else line + "\n"


def merge(sources: list[Path], dest: Path) -> int:
    """Merge result files into ``dest`` (which may be one of them) by record position, dropping
    repeated ids at one position; returns the records written. Streams when every file is in
    position order (as the audit writes them); else sorts an index of (position, file, offset)."""
    sources = [Path(p) for p in sources if Path(p).exists()]
    tmp = Path(dest).with_name(Path(dest).name + ".merge.tmp")
    written = 0
    with open(tmp, "w", encoding="utf-8") as sink, ExitStack() as stack:
        if all(_sorted(p) for p in sources):
            merged = heapq.merge(*[_lines(p) for p in sources], key=lambda t: t[0])
        else:
            merged = _by_index(sources, stack)
        seen_here: set[str] = set()
        last_pos = None
        for pos, rid, line in merged:
            if pos != last_pos:
                seen_here, last_pos = set(), pos
            if rid in seen_here:
                continue
            seen_here.add(rid)
            sink.write(line)
            written += 1
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(tmp, dest)
    return written
