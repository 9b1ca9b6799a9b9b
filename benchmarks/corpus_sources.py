"""Measure corpus sources: documents, unique cleaned sentences of 4-64 WordPiece tokens, fetch+read time.

Usage: python benchmarks/corpus_sources.py NAME [NAME ...] [--samples 10] [--seed 0]

Fetches each source into the corpus cache ($UNEMBED_CACHE/corpus), reads and cleans it as the build
does, and prints one table row a source and, with --samples, that many random cleaned sentences.
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from unembed.corpus import default_cache_dir, default_token_counter, dedupe_key
from unembed.corpus.build import fetch_root
from unembed.corpus.sources import get
from unembed.corpus.tokens import count_all


def measure(name: str, samples: int, seed: int, cache: Path) -> dict:
    source = get(name)
    started = time.monotonic()
    root, version = fetch_root(source, cache)
    clean = source.cleaner
    documents = 0
    unique: dict[str, str] = {}
    for raw in source.read(root):
        documents += 1
        for sentence in raw:
            text = clean(sentence)
            if text is not None:
                unique.setdefault(dedupe_key(text), text)
    elapsed = time.monotonic() - started
    texts = list(unique.values())
    counts = count_all(default_token_counter(), texts)
    kept = [t for t, c in zip(texts, counts) if 4 <= c <= 64]
    rng = random.Random(seed)
    return {
        "source": name, "package": source.package, "version": version, "licence": source.licence,
        "role": source.role, "register": source.register, "documents": documents, "unique": len(kept),
        "seconds": elapsed, "samples": rng.sample(kept, min(samples, len(kept))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cache = default_cache_dir()
    print("| source | package | version | licence | role | register | documents | unique texts | fetch+read s |")
    print("|---|---|---|---|---|---|---:|---:|---:|")
    rows = []
    for name in args.names:
        row = measure(name, args.samples, args.seed, cache)
        rows.append(row)
        print(f"| {row['source']} | {row['package']} | {row['version']} | {row['licence']} | {row['role']} | "
              f"{row['register']} | {row['documents']} | {row['unique']} | {row['seconds']:.1f} |", flush=True)
    for row in rows:
        if row["samples"]:
            print(f"\n{row['source']}:")
            for text in row["samples"]:
                print(f"  - {text}")


if __name__ == "__main__":
    main()
