"""Build (or load) the default corpus and print its sources, per-source counts and build time.

Usage: python benchmarks/corpus_stats.py [--max-tokens 32] [--seed 0] [--cache-dir DIR]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

from unembed.corpus import SPLITS, default_token_counter, load_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)

    started = time.perf_counter()
    corpus = load_corpus("default", max_tokens=args.max_tokens, seed=args.seed, cache_dir=args.cache_dir)
    elapsed = time.perf_counter() - started
    m = corpus.manifest

    print(f"corpus folder: {corpus.path}")
    print(f"loaded in {elapsed:.1f} s (build took {m['build_seconds']} s when created {m['created']})")
    print(f"max_tokens={m['max_tokens']} seed={m['seed']} ood source={m['ood_source']}")
    header = f"{'source':<10} {'package':<26} {'version':<14} " + " ".join(f"{s:>10}" for s in SPLITS)
    print(header)
    print("-" * len(header))
    for name, info in m["sources"].items():
        pkg = info.get("package", info.get("path", ""))
        if info.get("used"):
            counts = " ".join(f"{info['counts'][s]:>10}" for s in SPLITS)
        else:
            counts = f"  skipped: {info.get('error', '')}"
        print(f"{name:<10} {pkg:<26} {info.get('version', ''):<14} {counts}")
    print(f"{'total':<10} {'':<26} {'':<14} " + " ".join(f"{m['counts'][s]:>10}" for s in SPLITS))

    count = default_token_counter()
    for split in SPLITS:
        texts = getattr(corpus, split)
        if texts:
            lengths = count.count_batch(texts)
            print(
                f"{split:<10} tokens: min {min(lengths)}, median {statistics.median(lengths):.0f}, "
                f"mean {statistics.fmean(lengths):.1f}, max {max(lengths)}"
            )


if __name__ == "__main__":
    main()
