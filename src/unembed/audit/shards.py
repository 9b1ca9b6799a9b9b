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

import datetime
import heapq
import json
import logging
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

__all__ = ["Context", "context", "shard_path", "shard_files", "read_ids", "merge", "SHARDS"]

SHARDS = "shards"


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def sharded(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier(group=_group())

    def gather(self, obj) -> list | None:
        """Every rank's ``obj`` on the main rank (in rank order), None elsewhere."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world if self.main else None
        dist.gather_object(obj, out, dst=0, group=_group())
        return out

    def broadcast(self, obj):
        """The main rank's ``obj`` on every rank."""
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0, group=_group())
        return box[0]


_GROUP = None


def _group():
    """A gloo group over every rank (the default group when it is gloo already)."""
    global _GROUP
    import torch.distributed as dist

    if _GROUP is None:
        _GROUP = dist.group.WORLD if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
    return _GROUP


def context() -> Context:
    """This process's rank and the number of processes, from torch.distributed or the launcher's
    environment (``RANK``, ``WORLD_SIZE``); joins the process group when the launcher started one."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return Context()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo", timeout=datetime.timedelta(hours=12))
    return Context(dist.get_rank(), dist.get_world_size())


def shard_path(out: Path, rank: int, world: int, name: str = "results") -> Path:
    return Path(out) / SHARDS / f"{name}.rank-{rank:03d}-of-{world:03d}.jsonl"


def shard_files(out: Path, name: str = "results") -> list[Path]:
    folder = Path(out) / SHARDS
    return sorted(folder.glob(f"{name}.rank-*.jsonl")) if folder.is_dir() else []


def read_ids(path: Path, truncate: bool = True) -> set[str]:
    """The ids in a results file; a line cut by an interruption (and anything after it) is dropped."""
    done: set[str] = set()
    path = Path(path)
    if not path.exists():
        return done
    good = 0
    with open(path, "rb") as f:
        for line in f:
            try:
                done.add(str(json.loads(line)["id"]))
                good += len(line)
            except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
                break
    if truncate and good < path.stat().st_size:
        log.warning("dropping a partly written record at the end of %s", path)
        with open(path, "r+b") as f:
            f.truncate(good)
    return done


def _lines(path: Path) -> Iterator[tuple[int, str, str]]:
    """(position, id, line) of each record of a file, in file order."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                return
            yield int(rec.get("pos", -1)), str(rec["id"]), line if line.endswith("\n") else line + "\n"


def _sorted(path: Path) -> bool:
    last = None
    for pos, _, _ in _lines(path):
        if last is not None and pos < last:
            return False
        last = pos
    return True


def merge(sources: list[Path], dest: Path) -> int:
    """Merge result files into ``dest`` (which may be one of them) by record position, dropping
    repeated ids at one position; returns the records written. Streams when every file is in
    position order (as the audit writes them); else sorts an index of (position, file, offset)."""
    sources = [Path(p) for p in sources if Path(p).exists()]
    tmp = Path(dest).with_name(Path(dest).name + ".merge.tmp")
    written = 0
    with open(tmp, "w", encoding="utf-8") as sink, ExitStack() as stack:
        if all(_sorted(p) for p in sources):
            streams = [_lines(p) for p in sources]
            merged = heapq.merge(*streams, key=lambda t: t[0])
        else:  # pragma: no cover - files written out of order by hand
            merged = iter(sorted((t for p in sources for t in _lines(p)), key=lambda t: t[0]))
        last: tuple[int, str] | None = None
        for pos, rid, line in merged:
            if last == (pos, rid):
                continue
            last = (pos, rid)
            sink.write(line)
            written += 1
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(tmp, dest)
    return written
