"""Glitch-token audit of MiniLM's vocabulary: the methods compared on the same 30,522 tokens.

    PYTHONPATH=src .venv/bin/python benchmarks/glitch_minilm.py --json-out benchmarks/results/glitch_minilm.json

Runs ``unembed.glitch.audit_vocabulary`` on the bundled all-MiniLM-L6-v2 (the ``minilm`` embedder)
with the command line's defaults (20 clusters, each ranked method flags its most suspicious 2% of the
eligible tokens, 200 random control tokens, 200 known-unused tokens as a positive control) and
records, for every method: its AUC at separating BERT's 994 ``[unusedN]`` tokens from the rest
(cross-fitted for the Magikarp indicator, which is built from them), how many tokens outside the
known-unused set it flags in its bottom 2%, how many of those behaviour verifies, and its precision
and recall against the behaviour-verified pool. ``--control N`` with N at least the vocabulary size
behaviour-tests every token (exact recall instead of pooled; minutes on a 2-core CPU).

Prints a Markdown table; ``--json-out FILE`` keeps the JSON; the audit's own files go to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--out", default=None, help="folder for the audit's files (default: a temporary folder)")
    ap.add_argument("--clusters", type=int, default=20)
    ap.add_argument("--top", type=float, default=0.02)
    ap.add_argument("--control", type=int, default=200)
    ap.add_argument("--known-unused-sample", type=int, default=200)
    ap.add_argument("--inverter", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()

    import torch

    from unembed.glitch import audit_vocabulary

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="glitch-bench-"))
    t0 = time.perf_counter()
    s = audit_vocabulary(args.model, out, clusters=args.clusters, inverter=args.inverter, top_fraction=args.top,
                         control=args.control, known_unused_sample=args.known_unused_sample, seed=args.seed)
    seconds = time.perf_counter() - t0
    methods = {}
    for name, m in s["methods"].items():
        methods[name] = {k: m.get(k) for k in ("known_unused_auc", "known_unused_auc_in_sample", "flagged",
                                               "flagged_unreachable", "tested_of_flagged", "verified_of_flagged",
                                               "precision", "recall", "whole_vocab_bottom", "skipped")}
    result = {
        "command": "PYTHONPATH=src python benchmarks/glitch_minilm.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "model": s["model"]["name"],
        "n_tokens": s["n_tokens"],
        "settings": s["settings"],
        "categories": s["categories"],
        "candidates": s["candidates"],
        "verified": s["verified"],
        "methods": methods,
        "behaviour": {k: v for k, v in s["behaviour"].items() if k in ("candidates", "control", "known_unused",
                                                                     "unflagged_control", "carriers", "tested")},
        "inverter": s["inverter"],
        "timings": s["timings"],
        "seconds": round(seconds, 1),
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "audit_files": str(out),
    }
    print(json.dumps(result, indent=2))
    print()
    print("| method | AUC on known-unused | flagged (bottom 2% of eligible) | of which unreachable | verified | precision "
          "| recall (pooled) | bottom 2% of the whole vocabulary: outside known-unused (verified) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, m in methods.items():
        if m.get("skipped"):
            continue
        auc = "n/a" if m["known_unused_auc"] is None else f"{m['known_unused_auc']:.4f}"
        if m.get("known_unused_auc_in_sample") is not None:
            auc += f" (in-sample {m['known_unused_auc_in_sample']:.4f})"
        whole = m.get("whole_vocab_bottom") or {}
        precision = "n/a" if m["precision"] is None else f"{m['precision']:.2f}"
        recall = "n/a" if m["recall"] is None else f"{m['recall']:.2f}"
        print(f"| {name} | {auc} | {m['flagged']} | {m['flagged_unreachable']} | {m['verified_of_flagged']} of "
              f"{m['tested_of_flagged']} | {precision} | {recall} | "
              f"{whole.get('outside_known_unused', '-')} of {whole.get('size', '-')} ({whole.get('verified', '-')}) |")
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
