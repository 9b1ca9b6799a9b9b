"""A resumable, compact cache of what an access mode observed: fp16 shards, written atomically.

Computing Gemma's distributions costs about 12 prompts/s on a CPU, so a training run caches them.
The folder holds ``manifest.json`` (target fingerprint, access spec, prompt digest, shard size),
``prompts.jsonl`` (the prompts, one JSON string a line) and one ``part-NNNNN.npz`` per shard of
prompts (features as float16 (n, P, F), or the sampled texts, and the queries each prompt cost). A
shard is written whole or not at all (``io.atomic_write``); an interrupted fill resumes at the first
missing shard. A cache made for another target, access mode or prompt list is refused with one line.
The folder is small enough to carry to a GPU machine (Gemma, 4 positions, 5,000 prompts:
5,000 x 4 x 641 x 2 bytes = 26 MB).

Observations are matched by prompt text: :meth:`ObservationCache.fill` takes other caches of the
same target and access (``reuse``) and copies the rows of every prompt they hold instead of
querying the target again. A run that grows from 24,000 to 48,000 prompts pays for 24,000, and
against a paid API the queries it does not repeat are money not spent.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import CheckpointError, InputError
from ..io import atomic_write, read_json, write_json
from ..reporting import LogReporter, Reporter
from ..signature import text_digest
from .access import Observation

__all__ = ["ObservationCache", "cache_folders"]

PROMPTS_NAME = "prompts.jsonl"


def cache_folders(path: str | Path) -> list[Path]:
    """The observation caches under ``path``: the folder itself when it holds a ``manifest.json``,
    else each such folder below it (a training run's ``cache/train`` and ``cache/validation``)."""
    path = Path(path)
    if (path / "manifest.json").is_file():
        return [path]
    found = sorted(m.parent for m in path.glob("**/manifest.json")
                   if (m.parent / PROMPTS_NAME).is_file() or any(m.parent.glob("part-*.npz")))
    if not found:
        raise InputError(f"--reuse {path}: no observation cache there (a folder with manifest.json, or a "
                         f"`unembed lm train` run folder)")
    return found


class ObservationCache:
    def __init__(self, folder: str | Path, target: str, access: str, prompts: Sequence[str], shard: int = 64):
        self.folder, self.prompts, self.shard = Path(folder), list(prompts), shard
        self.manifest = {"target": target, "access": access, "prompts": text_digest(self.prompts),
                         "n": len(self.prompts), "shard": shard}
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "manifest.json"
        if path.exists():
            old = read_json(path, "observation cache manifest")
            diff = [k for k in self.manifest if old.get(k) != self.manifest[k]]
            if diff:
                raise CheckpointError(f"the cache {self.folder} was made for another {', '.join(diff)} "
                                      f"({', '.join(f'{k}={old.get(k)}' for k in diff)}); delete it or use another --out")
        else:
            write_json(path, self.manifest)
        if not (self.folder / PROMPTS_NAME).exists():
            atomic_write(self.folder / PROMPTS_NAME,
                         "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in self.prompts))

    @classmethod
    def open(cls, folder: str | Path) -> "ObservationCache":
        """An existing cache, read back with its own prompts (to reuse its observations)."""
        folder = Path(folder)
        manifest = read_json(folder / "manifest.json", "observation cache manifest")
        try:
            text = (folder / PROMPTS_NAME).read_text(encoding="utf-8")
            prompts = [json.loads(line) for line in text.splitlines() if line]
        except FileNotFoundError:
            raise InputError(f"{folder} keeps no {PROMPTS_NAME} (a cache written before observations were matched "
                             f"by prompt), so its rows cannot be matched to prompts") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{folder / PROMPTS_NAME} is unreadable ({exc}); delete the cache to recompute") from None
        if text_digest(prompts) != manifest.get("prompts"):
            raise CheckpointError(f"{folder / PROMPTS_NAME} does not match the digest in its manifest; "
                                  f"delete the cache to recompute")
        return cls(folder, manifest["target"], manifest["access"], prompts, int(manifest["shard"]))

    def _part(self, i: int) -> Path:
        return self.folder / f"part-{i:05d}.npz"

    def _donors(self, reuse: Sequence[str | Path], wanted: set[str]) -> tuple[Observation | None, dict[str, int]]:
        """One observation of every prompt in ``wanted`` that the ``reuse`` caches hold, and its row."""
        parts, rows = [], {}
        for folder in [f for spec in reuse for f in cache_folders(spec)]:
            if folder.resolve() == self.folder.resolve():
                continue
            other = ObservationCache.open(folder)
            for key in ("target", "access"):
                if other.manifest[key] != self.manifest[key]:
                    raise InputError(f"--reuse {folder}: observed {key} {other.manifest[key]}, this run "
                                     f"{self.manifest[key]}; only observations of the same target and access match")
            new = [j for j, p in enumerate(other.prompts) if p not in rows and p in wanted]
            if not new:
                continue
            obs = other.load().subset(new)
            offset = sum(len(o) for o in parts)
            rows.update({other.prompts[j]: offset + r for r, j in enumerate(new)})
            parts.append(obs)
        return (concat(parts) if parts else None), rows

    def fill(self, observe: Callable[[list[str]], Observation], reporter: Reporter | None = None,
             stage: str = "observe", reuse: Sequence[str | Path] = ()) -> Observation:
        """Observe every prompt whose shard is missing, copying the rows that ``reuse`` (other caches'
        folders, or run folders holding them) already observed for the same target and access."""
        reporter = reporter or LogReporter()
        n_parts = (len(self.prompts) + self.shard - 1) // self.shard
        missing = [i for i in range(n_parts) if not self._part(i).exists()]
        reporter.start(stage, len(self.prompts), len(self.prompts) - sum(
            len(self.prompts[i * self.shard: (i + 1) * self.shard]) for i in missing))
        wanted = {p for i in missing for p in self.prompts[i * self.shard: (i + 1) * self.shard]}
        donor, rows = self._donors(reuse, wanted) if reuse and missing else (None, {})
        if rows:
            reporter.note(f"{stage}: {len(rows)} of {len(wanted)} prompts reused from earlier observations")
        for i in missing:
            chunk = self.prompts[i * self.shard: (i + 1) * self.shard]
            fresh = [p for p in chunk if p not in rows]
            new = observe(fresh) if fresh else None
            obs = merge(chunk, rows, donor, fresh, new)
            buf = io.BytesIO()
            arrays = {"queries": np.asarray(obs.queries, np.int64)}
            if obs.features is not None:
                arrays["features"] = obs.features.astype(np.float16)
            if obs.samples is not None:
                arrays["samples"] = np.frombuffer(json.dumps(obs.samples, ensure_ascii=False).encode(), np.uint8)
            if obs.recovered is not None:
                arrays["recovered"] = np.asarray([obs.recovered])
            np.savez(buf, access=np.frombuffer(obs.access.encode(), np.uint8), **arrays)
            atomic_write(self._part(i), buf.getvalue())
            reporter.advance(stage, len(chunk))
        return self.load()

    def load(self) -> Observation:
        feats, samples, queries, rec, access = [], [], [], [], self.manifest["access"]
        n_parts = (len(self.prompts) + self.shard - 1) // self.shard
        for i in range(n_parts):
            try:
                with np.load(self._part(i)) as z:
                    if "features" in z:
                        feats.append(z["features"].astype(np.float32))
                    if "samples" in z:
                        samples.extend(json.loads(z["samples"].tobytes().decode()))
                    if "recovered" in z:
                        rec.append(float(z["recovered"][0]))
                    queries.extend(int(q) for q in z["queries"])
            except (OSError, ValueError, KeyError) as exc:
                raise CheckpointError(f"cache shard {self._part(i)} is unreadable ({exc}); delete it to recompute") from None
        return Observation(access, np.concatenate(feats) if feats else None, samples if samples else None,
                           queries, float(np.mean(rec)) if rec else None)


def concat(parts: Sequence[Observation]) -> Observation:
    """Observations of one access mode, one after the other; ``recovered`` averaged by prompt."""
    rec = [(o.recovered, len(o)) for o in parts if o.recovered is not None]
    return Observation(parts[0].access,
                       None if parts[0].features is None else np.concatenate([o.features for o in parts]),
                       None if parts[0].samples is None else [s for o in parts for s in o.samples],
                       [q for o in parts for q in o.queries],
                       sum(r * n for r, n in rec) / sum(n for _, n in rec) if rec else None)


def merge(chunk: list[str], rows: dict[str, int], donor: Observation | None, fresh: list[str],
          new: Observation | None) -> Observation:
    """The observation of ``chunk`` in its order: reused rows from ``donor``, the rest from ``new``."""
    if donor is None or len(fresh) == len(chunk):
        return new
    reused = [p for p in chunk if p in rows]
    old = donor.subset([rows[p] for p in reused])
    if new is None:
        return old
    at = {p: j for j, p in enumerate(reused + fresh)}
    return concat([old, new]).subset([at[p] for p in chunk])
