"""Audit throughput: records per second for an audit of N stored vectors (default 1,000).

    .venv/bin/python benchmarks/audit_throughput.py --inverter demo_out/inverter --n 1000 --steps 20 --beam 4

What it does, as an application and then an attacker would:

1. takes N held-out texts (the default corpus' test then validation splits, which the demo inverter
   never trained on; or ``--texts FILE``), embeds them with the inverter's embedder and writes them
   with their documents into a Chroma store (``--store``: chroma, qdrant, lancedb, faiss);
2. times reading the whole store through its read-only reader, for every store kind whose client is
   installed (the reader's share of an audit);
3. runs ``unembed.audit.Audit`` on the store (check, then run) and reports records/s end to end, with
   the split between the embedder check, inversion, and scoring/writing.

Prints a JSON object and a Markdown table; ``--json-out FILE`` keeps the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path



def texts_for(n: int, path: str | None) -> tuple[list[str], str]:
    if path:
        from unembed.corpus import read_texts

        texts = read_texts(Path(path))
        return texts[:n], Path(path).name
    from unembed.corpus import load_corpus

    corpus = load_corpus("default")
    held_out = corpus.test + corpus.validation
    if len(held_out) < n:
        held_out += corpus.ood[: n - len(held_out)]
    return held_out[:n], f"default corpus test+validation ({min(n, len(held_out))} held-out texts)"


def write_store(kind: str, root: Path, ids, vectors, texts) -> str:
    """Write the vectors and documents as an application would; returns the store URI."""
    if kind == "chroma":
        import chromadb

        client = chromadb.PersistentClient(path=str(root / "chroma"),
                                           settings=chromadb.config.Settings(anonymized_telemetry=False))
        col = client.get_or_create_collection("bench", metadata={"hnsw:space": "cosine"})
        for s in range(0, len(ids), 500):
            col.add(ids=ids[s:s + 500], embeddings=vectors[s:s + 500], documents=texts[s:s + 500])
        del col, client
        return f"chroma://{root / 'chroma'}?collection=bench"
    if kind == "qdrant":
        from qdrant_client import QdrantClient, models

        client = QdrantClient(path=str(root / "qdrant"))
        client.create_collection("bench", vectors_config=models.VectorParams(size=vectors.shape[1],
                                                                             distance=models.Distance.COSINE))
        client.upsert("bench", points=[models.PointStruct(id=i, vector=v.tolist(), payload={"document": t})
                                       for i, (v, t) in enumerate(zip(vectors, texts))])
        client.close()
        return f"qdrant://{root / 'qdrant'}?collection=bench"
    if kind == "lancedb":
        import lancedb

        lancedb.connect(str(root / "lance")).create_table(
            "bench", data=[{"id": i, "vector": v, "text": t} for i, v, t in zip(ids, vectors, texts)])
        return f"lancedb://{root / 'lance'}?table=bench"
    if kind == "faiss":
        import faiss

        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        faiss.write_index(index, str(root / "bench.index"))
        (root / "bench.jsonl").write_text("".join(json.dumps({"id": n, "text": t}) + "\n" for n, t in enumerate(texts)))
        return f"faiss://{root / 'bench.index'}?texts={root / 'bench.jsonl'}"
    raise SystemExit(f"unknown store kind {kind}")


def read_rate(uri: str) -> dict:
    from unembed.audit.stores import open_store

    t0 = time.perf_counter()
    with open_store(uri) as reader:
        opened = time.perf_counter() - t0
        n = sum(len(b.ids) for b in reader.batches(256))
    total = time.perf_counter() - t0
    return {"records": n, "open_seconds": round(opened, 3), "seconds": round(total, 3),
            "records_per_second": round(n / total, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inverter", default="minilm", help="inverter folder or shipped name (e.g. demo_out/inverter)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--store", default="chroma", choices=["chroma", "qdrant", "lancedb", "faiss"])
    ap.add_argument("--texts", default=None, help=".txt or .jsonl of texts (default: held-out default corpus)")
    ap.add_argument("--no-read-rates", action="store_true", help="skip timing the other stores' readers")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()

    import torch

    from unembed import load_inverter
    from unembed.audit import Audit

    inverter = load_inverter(args.inverter)
    embedder = inverter.embedder
    texts, source = texts_for(args.n, args.texts)
    ids = [f"doc-{i}" for i in range(len(texts))]
    t0 = time.perf_counter()
    vectors = embedder.embed(texts)
    embed_seconds = time.perf_counter() - t0

    root = Path(tempfile.mkdtemp(prefix="unembed-bench-"))
    try:
        uris = {args.store: write_store(args.store, root, ids, vectors, texts)}
        reads = {}
        if not args.no_read_rates:
            for kind in ("chroma", "qdrant", "lancedb", "faiss"):
                try:
                    uri = uris.get(kind) or write_store(kind, root, ids, vectors, texts)
                except ImportError:
                    continue
                reads[kind] = read_rate(uri)
        out = root / "audit"
        t0 = time.perf_counter()
        with Audit(uris[args.store], inverter, out, steps=args.steps, beam=args.beam, batch_size=args.batch_size) as job:
            job.check()
            t_check = time.perf_counter() - t0
            summary = job.run()
        total = time.perf_counter() - t0
    finally:
        shutil.rmtree(root, ignore_errors=True)

    thr = summary["throughput"]
    result = {
        "records": summary["n"],
        "store": args.store,
        "steps": args.steps,
        "beam": args.beam,
        "batch_size": args.batch_size,
        "inverter": inverter.model_id,
        "embedder": embedder.name,
        "texts": source,
        "seconds_total": round(total, 1),
        "records_per_second": round(summary["n"] / total, 3),
        "seconds_check": round(t_check, 2),
        "seconds_invert": round(thr["invert_seconds"], 1),
        "seconds_score_and_write": round(thr["score_seconds"], 1),
        "seconds_read_and_other": round(total - t_check - thr["invert_seconds"] - thr["score_seconds"], 1),
        "embed_texts_per_second": round(len(texts) / embed_seconds, 1),
        "store_read_rates": reads,
        "bleu": summary["bleu"],
        "token_f1": summary["token_f1"],
        "cosine": summary["cosine"],
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "device": str(inverter.device), "python": platform.python_version(), "torch": torch.__version__,
                    "load_average_1min": round(os.getloadavg()[0], 2)},
    }
    print(json.dumps(result, indent=2))
    print()
    print("| records | store | steps | beam | seconds | records/s | invert s | check s | score+write s | read+other s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {result['records']} | {args.store} | {args.steps} | {args.beam} | {result['seconds_total']} | "
          f"{result['records_per_second']} | {result['seconds_invert']} | {result['seconds_check']} | "
          f"{result['seconds_score_and_write']} | {result['seconds_read_and_other']} |")
    if reads:
        print()
        print("| store reader | records | seconds (incl. open) | records/s |")
        print("|---|---|---|---|")
        for kind, r in reads.items():
            print(f"| {kind} | {r['records']} | {r['seconds']} | {r['records_per_second']} |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
