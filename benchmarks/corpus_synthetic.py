"""The synthetic records sources and entity swapping, measured.

    PYTHONPATH=src UNEMBED_CACHE=/work/cache .venv/bin/python benchmarks/corpus_synthetic.py \
        [--texts N] [--examples 15] [--build] [--json-out FILE]

For each synthetic source (``synthetic_records``, ``synthetic_records_heldout``): documents and
sentences generated (all of the source's volume, or ``--texts`` texts), unique sentences,
sentences/s, texts the build would form (sentences and 2-3 sentence passages), the share of
sentences holding each PII kind as :func:`unembed.audit.find_items` detects it, WordPiece token
lengths (``default_token_counter``), locales, and random examples to read. For
:mod:`unembed.corpus.augment`: the share of Wikipedia sentences it swaps, sentences/s and examples.
``--build`` also builds ``sources:synthetic_records,synthetic_records_heldout,wikipedia`` once
(``max_tokens=64``) and reports its manifest counts and wall time. Prints JSON.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path


def _percentiles(values: list[int]) -> dict:
    values = sorted(values)
    q = lambda p: values[min(len(values) - 1, int(p * len(values)))]  # noqa: E731
    return {"min": values[0], "p10": q(0.1), "median": q(0.5), "p90": q(0.9), "max": values[-1],
            "mean": round(statistics.fmean(values), 1)}


def measure_source(name: str, n_texts: int | None, n_examples: int) -> dict:
    from unembed.audit import KINDS, find_items
    from unembed.corpus import default_token_counter
    from unembed.corpus.sources import _records, get

    source = get(name)
    module = __import__(f"unembed.corpus.sources.{name}", fromlist=["x"])
    templates = _records.load_templates("train" if source.role == "train" else "heldout")
    target = n_texts or module.TEXTS
    _records._faker.cache_clear()
    started = time.perf_counter()
    docs = list(_records.generate(templates, module.SEED, target, default_token_counter()))
    seconds = time.perf_counter() - started
    sentences = [s for d in docs for s in d]
    cleaned = [source.cleaner(s) for s in sentences]
    rejected = sum(c is None for c in cleaned)
    texts = [c for c in cleaned if c is not None]
    unique = len({" ".join(t.casefold().split()) for t in texts})
    counts = default_token_counter().count_batch(texts)
    kinds = Counter()
    for t in texts:
        for k in {it["kind"] for it in find_items(t)}:
            kinds[k] += 1
    rng = random.Random(0)
    whole = [" ".join(d) for d in rng.sample(docs, min(n_examples, len(docs)))]
    doc_counts = default_token_counter().count_batch([" ".join(d) for d in docs])
    return {
        "source": name,
        "templates": len(templates),
        "documents": len(docs),
        "sentences": len(sentences),
        "texts_formed": sum(_records.texts_of_document(len(d)) for d in docs),
        "unique_sentences": unique,
        "rejected_by_cleaner": rejected,
        "seconds": round(seconds, 2),
        "sentences_per_s": round(len(sentences) / seconds),
        "documents_per_s": round(len(docs) / seconds),
        "pii_share": {k: round(kinds[k] / len(texts), 3) for k in KINDS},
        "any_pii_share": round(sum(1 for t in texts if find_items(t)) / len(texts), 3),
        "tokens_sentence": _percentiles(counts),
        "tokens_document": _percentiles(doc_counts),
        "outside_4_64": sum(1 for c in counts if not 4 <= c <= 64),
        "registers": dict(Counter(t.register for t in templates)),
        "examples": whole,
    }


def measure_augment(n: int, n_examples: int) -> dict:
    from unembed.corpus import fetch_root
    from unembed.corpus.augment import augment, swap_entities
    from unembed.corpus.sources import get

    wiki = get("wikipedia")
    from unembed.corpus.fetch import default_cache_dir

    root, _ = fetch_root(wiki, default_cache_dir())
    sentences: list[str] = []
    for doc in wiki.read(root):
        for s in doc:
            c = wiki.cleaner(s)
            if c is not None:
                sentences.append(c)
        if len(sentences) >= 20 * n:
            break
    rng = random.Random(0)
    sample = rng.sample(sentences, min(n, len(sentences)))
    started = time.perf_counter()
    out = [swap_entities(s, random.Random(i)) for i, s in enumerate(sample)]
    seconds = time.perf_counter() - started
    swapped = [(s, o) for s, o in zip(sample, out) if o is not None]
    aug = augment(sample, 0.3, seed=1)
    return {
        "sentences": len(sample),
        "swapped_share": round(len(swapped) / len(sample), 3),
        "sentences_per_s": round(len(sample) / seconds),
        "augment_fraction_0.3": len(aug),
        "examples": [{"in": s, "out": o} for s, o in swapped[:n_examples]],
    }


def build(out_dir: Path) -> dict:
    from unembed.corpus import load_corpus

    started = time.perf_counter()
    c = load_corpus("sources:synthetic_records,synthetic_records_heldout,wikipedia", out_dir=out_dir, max_tokens=64)
    wall = time.perf_counter() - started
    m = c.manifest
    return {
        "wall_seconds": round(wall, 1),
        "build_seconds": m.get("build_seconds"),
        "counts": m["counts"],
        "heldout": {k: len(v) for k, v in c.heldout.items()},
        "sources": {k: {"role": v.get("role"), "documents": v.get("documents"), "counts": v.get("counts"),
                        "version": v.get("version")} for k, v in m["sources"].items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=None, help="texts per source (default: the source's volume)")
    ap.add_argument("--examples", type=int, default=15)
    ap.add_argument("--augment", type=int, default=2000, help="Wikipedia sentences to swap (0: skip)")
    ap.add_argument("--build", action="store_true")
    ap.add_argument("--out-dir", default="/work/cache/try-synth")
    ap.add_argument("--json-out")
    args = ap.parse_args()
    import faker

    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPUs",
        "python": platform.python_version(),
        "faker": faker.VERSION,
        "sources": [measure_source(n, args.texts, args.examples)
                    for n in ("synthetic_records", "synthetic_records_heldout")],
    }
    if args.augment:
        result["augment"] = measure_augment(args.augment, args.examples)
    if args.build:
        result["build"] = build(Path(args.out_dir))
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
