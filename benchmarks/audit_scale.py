"""Audits at scale (issue #14): time and memory against store size, the private copies, records/s by
process count, and whether the 95% intervals of a sampled audit cover the truth.

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python benchmarks/audit_scale.py sizes --sizes 10000,100000,1000000
    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python benchmarks/audit_scale.py copies --sizes 100000
    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python benchmarks/audit_scale.py processes --n 48
    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python benchmarks/audit_scale.py coverage --n 4000 --seeds 200

- ``sizes``: for FAISS (Flat), LanceDB and pgvector (a PostgreSQL started here by pgserver), stores of
  each size: 300 real texts (held-out synthetic records, embedded by MiniLM, with their documents)
  first, then random unit vectors; each is audited with ``unembed audit URI --sample 200`` in a
  fresh process (``--steps 0`` by default: the inversion of 200 records costs the same at every
  size, so the hypothesizer alone shows what the store's size adds). Wall time and the audit
  process's peak RSS (``wait4``) against store size.
- ``copies``: Chroma, Qdrant local and Milvus Lite stores of each size (random unit vectors): the
  private copy each reader makes (seconds, bytes) and the peak RSS and wall time of a process that
  opens the store, counts it and reads a sample of 200 records by id.
- ``processes``: records/s of an audit of ``--n`` real texts with the shipped inverter (20 steps,
  beam 4) in 1 and 2 processes (``torchrun``, gloo, one thread each), and in 1 process with 2 threads.
- ``coverage``: a store of ``--n`` real texts is audited in full with the hypothesizer alone
  (``--steps 0``, the cheap per-record proxy of the 20-step scores); its figures are the truth.
  Then for each sample size and ``--seeds`` seeds, the audit's own sample (``sampling``) and
  interval code (``aggregate.Tally.intervals``) run on the sampled records' full-audit scores:
  the mean width of each 95% interval and the share of seeds whose interval covers the truth.

Each part writes benchmarks/results/audit_scale_<part>.json and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
PY = sys.executable
DIM = 384


def real_texts(n: int) -> list[str]:
    """``n`` held-out texts (cached in the work folder's texts.json: the corpus takes minutes to load)."""
    cache = Path(os.environ.get("AUDIT_SCALE_TEXTS", Path(tempfile.gettempdir()) / "audit_scale_texts.json"))
    if cache.exists():
        texts = json.loads(cache.read_text())
        if len(texts) >= n:
            return texts[:n]
    texts = _load_texts(max(n, 5000))
    cache.write_text(json.dumps(texts))
    return texts[:n]


def _load_texts(n: int) -> list[str]:
    from unembed.corpus import load_corpus

    texts = list(dict.fromkeys(load_corpus("default").split("heldout:synthetic_records_heldout")))
    if len(texts) < n:
        c = load_corpus("default")
        texts += [t for t in dict.fromkeys(c.test + c.validation) if t not in set(texts)]
    return texts[:n]


def random_units(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def chunks_of(real: np.ndarray, total: int, size: int = 50_000):
    """(start, vectors) in chunks: the real vectors first, then random unit vectors."""
    if len(real):
        yield 0, real
    start = len(real)
    while start < total:
        n = min(size, total - start)
        yield start, random_units(n, start)
        start += n


# A process's ru_maxrss starts at its parent's RSS when it was forked (Linux carries the high-water mark
# across exec), so a command forked straight from this process, which holds the stores it builds,
# would report this process's memory. A small wrapper forks the command instead and reports its wait4.
WRAP = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[2:]); _, s, u = os.wait4(p.pid, 0); "
        "open(sys.argv[1], 'w').write(str(u.ru_maxrss)); sys.exit(os.waitstatus_to_exitcode(s))")


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[float, float, str, str]:
    """(wall seconds, peak RSS in MB, stdout, stderr) of a command, its RSS from wait4 in a small wrapper."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        p = subprocess.Popen([PY, "-c", WRAP, rss.name, *cmd], stdout=out, stderr=err, env=env)
        status = p.wait()
        wall = time.perf_counter() - t
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
        peak_kb = int(rss.read() or 0)
    if status != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}... failed: {stderr[-2000:]}")
    return wall, peak_kb / 1024, stdout, stderr


def env_one_thread() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


# --------------------------------------------------------------------------------------------------
# Stores
# --------------------------------------------------------------------------------------------------


def build_faiss(root: Path, total: int, real_x, texts) -> str:
    import faiss

    index = faiss.IndexFlatIP(DIM)
    for _, x in chunks_of(real_x, total):
        index.add(x)
    faiss.write_index(index, str(root / "store.index"))
    (root / "texts.jsonl").write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    return f"faiss://{root / 'store.index'}?texts={root / 'texts.jsonl'}"


def build_lancedb(root: Path, total: int, real_x, texts) -> str:
    import lancedb
    import pyarrow as pa

    schema = pa.schema([pa.field("id", pa.string()), pa.field("vector", pa.list_(pa.float32(), DIM)),
                        pa.field("text", pa.string())])

    def batches():
        for start, x in chunks_of(real_x, total):
            ids = [f"r{start + i}" for i in range(len(x))]
            docs = [texts[start + i] if start + i < len(texts) else None for i in range(len(x))]
            vec = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), DIM)
            yield pa.record_batch([pa.array(ids), vec, pa.array(docs, pa.string())], schema=schema)

    db = lancedb.connect(str(root / "lance"))
    db.create_table("docs", data=pa.RecordBatchReader.from_batches(schema, batches()), schema=schema)
    return f"lancedb://{root / 'lance'}?table=docs"


def build_pgvector(srv, total: int, real_x, texts, table: str) -> str:
    import psycopg

    with psycopg.connect(srv.get_uri(), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS vector")
        c.execute(f"DROP TABLE IF EXISTS {table}")
        c.execute(f"CREATE TABLE {table} (doc_id text PRIMARY KEY, body text, embedding vector({DIM}))")
        with c.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as cp:
            cp.write(b"PGCOPY\n\xff\r\n\0" + struct.pack(">ii", 0, 0))
            for start, x in chunks_of(real_x, total):
                be = x.astype(">f4")
                rows = []
                for i in range(len(x)):
                    rid = f"r{start + i:08d}".encode()
                    doc = texts[start + i].encode() if start + i < len(texts) else None
                    vec = struct.pack(">hh", DIM, 0) + be[i].tobytes()
                    rows.append(struct.pack(">hi", 3, len(rid)) + rid
                                + (struct.pack(">i", -1) if doc is None else struct.pack(">i", len(doc)) + doc)
                                + struct.pack(">i", len(vec)) + vec)
                cp.write(b"".join(rows))
            cp.write(struct.pack(">h", -1))
        c.execute(f"ANALYZE {table}")
        build_pgvector.bytes = c.execute(f"SELECT pg_total_relation_size('{table}')").fetchone()[0]
    base = srv.get_uri()
    head, _, libpq = base.partition("?")
    return f"{head}?table={table}&column=embedding&text=body&id=doc_id&{libpq}"


def store_bytes(path: Path) -> int:
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------------------------------
# Parts
# --------------------------------------------------------------------------------------------------


def part_sizes(args) -> dict:
    import pgserver

    from unembed import load_embedder

    sizes = [int(s) for s in args.sizes.split(",")]
    texts = real_texts(300)
    real_x = load_embedder("minilm").embed(texts)
    work = Path(tempfile.mkdtemp(prefix="audit-scale-", dir=args.work))
    srv = pgserver.get_server(str(work / "pg"), cleanup_mode="stop") if "pgvector" in args.kinds else None
    rows = []
    try:
        for kind in args.kinds.split(","):
            for n in sizes:
                root = work / f"{kind}-{n}"
                root.mkdir()
                t = time.perf_counter()
                if kind == "faiss":
                    uri = build_faiss(root, n, real_x, texts)
                elif kind == "lancedb":
                    uri = build_lancedb(root, n, real_x, texts)
                else:
                    uri = build_pgvector(srv, n, real_x, texts, f"items_{n}")
                built = time.perf_counter() - t
                size = store_bytes(root) if kind != "pgvector" else build_pgvector.bytes  # table, TOAST, indexes
                out = root / "audit"
                cmd = [PY, "-m", "unembed", "audit", uri, "--inverter", args.inverter, "--sample", str(args.sample),
                       "--steps", str(args.steps), "--beam", str(args.beam), "--no-advice", "--json", "--out", str(out)]
                wall, rss, stdout, _ = run_measured(cmd, env_one_thread())
                s = json.loads(stdout)
                thr = s.get("throughput") or {}
                row = {"store": kind, "vectors": n, "store_mb": None if size is None else size / 1e6,
                       "build_seconds": built, "audit_seconds": wall, "peak_rss_mb": rss,
                       "invert_seconds": thr.get("invert_seconds"), "records": s["n"],
                       "sampling": s["sampling"]["method"], "check": s["embedder_check"]["status"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
                if kind != "pgvector":
                    shutil.rmtree(root, ignore_errors=True)
                else:
                    import psycopg

                    with psycopg.connect(srv.get_uri(), autocommit=True) as c:
                        c.execute(f"DROP TABLE items_{n}")
    finally:
        if srv is not None:
            srv.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    return {"part": "sizes", "sample": args.sample, "steps": args.steps, "beam": args.beam,
            "inverter": args.inverter, "rows": rows}


COPY_SCRIPT = r'''
import json, resource, sys, time
t0 = time.perf_counter()
from unembed.audit.stores import open_store
from unembed.audit.sampling import Selection
t1 = time.perf_counter()
with open_store(sys.argv[1]) as r:
    t2 = time.perf_counter()
    n = r.count()
    sel = Selection(r, n, 200, 0, 32)
    got = sum(len(items) for _, items in sel.chunks())
    t3 = time.perf_counter()
    notes = r.notes
print(json.dumps({"open_seconds": t2 - t1, "count": n, "sample_seconds": t3 - t2, "sampled": got, "notes": notes,
                  "close_seconds": time.perf_counter() - t3}))
'''


def part_copies(args) -> dict:
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="audit-copies-", dir=args.work))
    script = work / "open.py"
    script.write_text(COPY_SCRIPT)
    rows = []
    try:
        for kind in args.kinds.split(","):
            for n in sizes:
                root = work / f"{kind}-{n}"
                root.mkdir()
                t = time.perf_counter()
                ids = [f"r{i}" for i in range(n)]
                if kind == "chroma":
                    import chromadb

                    client = chromadb.PersistentClient(path=str(root / "c"),
                                                       settings=chromadb.config.Settings(anonymized_telemetry=False))
                    col = client.get_or_create_collection("docs", metadata={"hnsw:space": "cosine"})
                    for start, x in chunks_of(np.zeros((0, DIM), np.float32), n, 5000):
                        col.add(ids=ids[start:start + len(x)], embeddings=x)
                    del col, client
                    uri, path = f"chroma://{root / 'c'}?collection=docs", root / "c"
                elif kind == "qdrant":
                    import uuid

                    from qdrant_client import QdrantClient, models

                    client = QdrantClient(path=str(root / "q"))
                    client.create_collection("docs", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
                    for start, x in chunks_of(np.zeros((0, DIM), np.float32), n, 5000):
                        client.upload_collection("docs", vectors=x, ids=[str(uuid.uuid5(uuid.NAMESPACE_URL, i))
                                                                          for i in ids[start:start + len(x)]])
                    client.close()
                    uri, path = f"qdrant://{root / 'q'}?collection=docs", root / "q"
                else:
                    from pymilvus import DataType, MilvusClient

                    client = MilvusClient(str(root / "m.db"))
                    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
                    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
                    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=DIM)
                    index = client.prepare_index_params()
                    index.add_index("embedding", index_type="FLAT", metric_type="COSINE")
                    client.create_collection("docs", schema=schema, index_params=index)
                    for start, x in chunks_of(np.zeros((0, DIM), np.float32), n, 5000):
                        client.insert("docs", [{"pk": ids[start + i], "embedding": v.tolist()} for i, v in enumerate(x)])
                    client.close()
                    uri, path = f"milvus://{root / 'm.db'}?collection=docs", root / "m.db"
                built = time.perf_counter() - t
                wall, rss, stdout, _ = run_measured([PY, str(script), uri], env_one_thread())
                s = json.loads(stdout)
                row = {"store": kind, "vectors": n, "store_mb": store_bytes(path) / 1e6, "build_seconds": built,
                       "process_seconds": wall, "peak_rss_mb": rss, **s}
                rows.append(row)
                print(json.dumps(row), flush=True)
                shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"part": "copies", "rows": rows}


def part_processes(args) -> dict:
    import faiss

    from unembed import load_embedder

    texts = real_texts(args.n)
    x = load_embedder("minilm").embed(texts)
    work = Path(tempfile.mkdtemp(prefix="audit-procs-", dir=args.work))
    rows = []
    try:
        index = faiss.IndexFlatIP(DIM)
        index.add(x)
        faiss.write_index(index, str(work / "s.index"))
        (work / "t.jsonl").write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
        uri = f"faiss://{work / 's.index'}?texts={work / 't.jsonl'}"
        common = ["--inverter", args.inverter, "--steps", str(args.steps), "--beam", str(args.beam), "--batch-size",
                  str(args.batch_size), "--no-advice", "--json"]
        for label, procs, threads in (("1 process, 1 thread", 1, 1), ("2 processes, 1 thread each", 2, 1),
                                      ("1 process, 2 threads", 1, 2)):
            env = {**env_one_thread(), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
            out = work / f"out-{procs}-{threads}"
            cmd = [PY, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs),
                   "-m", "unembed", "audit", uri, *common, "--out", str(out)]
            wall, _, stdout, _ = run_measured(cmd, env)
            s = json.loads(stdout)
            thr = s["throughput"]
            row = {"setup": label, "processes": procs, "threads": threads, "records": thr["records"],
                   "invert_wall_seconds": thr["seconds"], "records_per_second": thr["records_per_second"],
                   "command_seconds": wall}
            rows.append(row)
            print(json.dumps(row), flush=True)
        same = (work / "out-1-1" / "results.jsonl").read_bytes() == (work / "out-2-1" / "results.jsonl").read_bytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"part": "processes", "n": args.n, "steps": args.steps, "beam": args.beam, "inverter": args.inverter,
            "batch_size": args.batch_size, "two_process_results_identical": same, "rows": rows,
            "load_average_after": os.getloadavg()}


def part_coverage(args) -> dict:
    import faiss

    from unembed import load_embedder
    from unembed.audit.aggregate import read_records

    texts = real_texts(args.n)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="audit-cov-", dir=args.work))
    work.mkdir(parents=True, exist_ok=True)
    out = work / "full"
    if args.proxy == "drop":
        records, proxy = _dropped_words(texts, args.drop), (
            f"no inversion: each record's 'recovered text' is its original with each word dropped with probability "
            f"{args.drop} (seeded per record), scored by the audit's own score_record (BLEU, token F1, exact match, "
            "sensitive items); cosine is the share of words kept")
        return _coverage(records, args, proxy, texts_note="held-out synthetic records, then default test/validation texts")
    x = load_embedder("minilm").embed(texts)
    if not (out / "summary.json").exists() or json.loads((out / "summary.json").read_text())["status"] != "complete":
        index = faiss.IndexFlatIP(DIM)
        index.add(x)
        faiss.write_index(index, str(work / "s.index"))
        (work / "t.jsonl").write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
        uri = f"faiss://{work / 's.index'}?texts={work / 't.jsonl'}"
        cmd = [PY, "-m", "unembed", "audit", uri, "--inverter", args.inverter, "--steps", "0", "--beam", "1",
               "--batch-size", "64", "--no-advice", "--json", "--out", str(out)] + (["--resume"] if out.exists() else [])
        wall, _, _, _ = run_measured(cmd, env_one_thread())
        print(f"full audit of {len(texts)} records: {wall:.0f} s", flush=True)
    records = list(read_records(out / "results.jsonl"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return _coverage(records, args, "per-record scores of a full audit with the hypothesizer alone (--steps 0) of "
                                    "the shipped inverter", texts_note="held-out synthetic records")


def _dropped_words(texts: list[str], p: float) -> list[dict]:
    from unembed.audit import score_record

    out = []
    for i, t in enumerate(texts):
        rng = np.random.default_rng([i, 99])
        words = t.split()
        keep = [w for w in words if rng.random() >= p] or words[:1]
        rec = {"id": str(i), "pos": i, "text": " ".join(keep), "cosine": len(keep) / len(words), "original": t,
               **score_record(" ".join(keep), t)}
        out.append(rec)
    return out


def _coverage(records: list[dict], args, proxy: str, texts_note: str) -> dict:
    from unembed.audit.aggregate import Tally
    from unembed.audit.sampling import sample_positions

    N = len(records)
    truth_t = Tally().extend(records)
    truth = truth_t.summary()
    truth_iv = truth_t.intervals(N, True)["figures"]
    name_truth = truth_iv["sensitive"]["name"]["records_leaking"]["estimate"]
    figures = {"bleu": truth["bleu"], "token_f1": truth["token_f1"], "cosine": truth["cosine"],
               "exact_match": truth["exact_match"], "records leaking a name (%)": name_truth}
    rows = []
    for n in [int(v) for v in args.ns.split(",")]:
        hits = {k: 0 for k in figures}
        widths = {k: [] for k in figures}
        for seed in range(args.seeds):
            pos = sample_positions(N, n, seed)
            t = Tally().extend(records[p] for p in pos)
            f = t.intervals(N, True, seed=seed)["figures"]
            got = {"bleu": f["bleu"], "token_f1": f["token_f1"], "cosine": f["cosine"], "exact_match": f["exact_match"],
                   "records leaking a name (%)": f["sensitive"]["name"]["records_leaking"]}
            for k, g in got.items():
                hits[k] += g["low"] - 1e-9 <= figures[k] <= g["high"] + 1e-9
                widths[k].append(g["high"] - g["low"])
        row = {"n": n, "coverage": {k: hits[k] / args.seeds for k in figures},
               "mean_width": {k: float(np.mean(widths[k])) for k in figures}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return {"part": "coverage", "records": N, "seeds": args.seeds, "truth": figures, "rows": rows,
            "proxy": proxy, "texts": texts_note}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", choices=["sizes", "copies", "processes", "coverage"])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--kinds", default=None)
    ap.add_argument("--inverter", default="minilm")
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--beam", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--ns", default="25,50,100,200,400,800")
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--work", default=None, help="folder for the temporary stores (default: the system's)")
    ap.add_argument("--keep", default=None, help="coverage: keep the full audit in this folder (and reuse it)")
    ap.add_argument("--proxy", choices=["drop", "audit"], default="drop",
                    help="coverage: per-record scores from dropped words (no inversion; minutes) or a full --steps 0 audit")
    ap.add_argument("--drop", type=float, default=0.3)
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    defaults = {"sizes": dict(kinds="faiss,lancedb,pgvector", steps=0, beam=1),
                "copies": dict(kinds="chroma,qdrant,milvus", sizes="100000"),
                "processes": dict(steps=20, beam=4, n=48),
                "coverage": dict(n=4000)}[args.part]
    for k, v in defaults.items():
        if getattr(args, k) is None or (k == "sizes" and args.sizes == ap.get_default("sizes") and "sizes" in defaults):
            setattr(args, k, v)
    t = time.perf_counter()
    result = {"part_": args.part, **globals()[f"part_{args.part}"](args), "seconds": time.perf_counter() - t,
              "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (shared machine)",
              "when": time.strftime("%Y-%m-%d")}
    path = Path(args.json_out) if args.json_out else RESULTS / f"audit_scale_{args.part}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
