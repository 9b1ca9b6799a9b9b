"""The defence grid: retrieval utility against inversion leakage for every defence, with one inverter.

    .venv/bin/python benchmarks/defences.py --inverter minilm                # the full grid, defaults
    .venv/bin/python benchmarks/defences.py --inverter runs/tiny --smoke --results /tmp/defbench

Runs what ``unembed defend`` runs (``unembed.defences.measure``), on the grid of the issue: the command's
defences (noise 0.001 / 0.01 / 0.1, rotate:7, int8, binary, pq:16x8, pca:64, ldp:8) plus Gaussian
noise at more scales for the curve and masking, with the command's defaults (200 test texts, 5
correction steps, beam 2; adaptive attacker fine-tuned 300 + 100 steps on 4,096 defended training
vectors; least-squares attacker with 10, 100 and 1,000 leaked pairs; 300 trivia queries against
2,000 Wikipedia lead sections). Writes ``benchmarks/results/defences.json`` (settings, machine,
signature, every defence's record, the recommendation) and ``benchmarks/results/defences.png`` (the
utility-against-leakage plot); the run folder (``--work``, default ``runs/defences-bench``) keeps the
report and resumes an interrupted run (``--resume``). Prints a Markdown table for BENCHMARKS.md.

``--utility-only`` measures the retrieval side alone, which needs no inverter: the same retrieval set,
the fitted defences fitted on 10,000 texts of the default corpus' train split, for a wider grid
(``UTILITY_GRID``); it writes ``benchmarks/results/defences_utility.json``.

``--smoke`` shrinks every number (a few texts, 1 step, 2 fine-tuning steps) to check the pipeline
in a minute; its numbers mean nothing, so it refuses to write into ``benchmarks/results`` unless
``--results`` points elsewhere.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from datetime import date
from pathlib import Path

from unembed.defences.config import DEFAULT_DEFENCES as COMMAND  # the command's defaults, written once

RESULTS = Path(__file__).parent / "results"
MORE = "noise:0.0003,noise:0.003,noise:0.03,noise:0.3,mask:0.5"
UTILITY_GRID = ("none,noise:0.0003,noise:0.001,noise:0.003,noise:0.01,noise:0.03,noise:0.1,noise:0.3,rotate:7,"
                "mask:0.25,mask:0.5,mask:0.75,int8,binary,pq:8x8,pq:16x8,pq:32x8,pca:32,pca:64,pca:128,ldp:8,ldp:64,"
                "ldp:512,ldp:4096")
SMOKE = dict(n_texts=6, steps=1, beam=1, n_queries=30, n_passages=120, fit_texts=300, adaptive_steps=2,
             adaptive_corrector_steps=1, adaptive_texts=32, adaptive_batch_size=8, leaked_pairs=(5, 50))


def machine() -> str:
    import torch

    return f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, python {platform.python_version()}"


def utility_only(results_dir: Path, n_queries=300, n_passages=2000, fit_texts=10000, seed=0) -> None:
    """Recall@10 and NDCG@10 of every defence in UTILITY_GRID (no inversion), and each one's distortion."""
    from unembed import load_embedder
    from unembed.corpus import load_corpus
    from unembed.defences import parse_list, relative_error
    from unembed.defences.retrieval import retrieval_scores, retrieval_set
    from unembed.inversion.evaluate import sample

    t0 = time.time()
    emb = load_embedder("minilm")
    rs = retrieval_set(n_queries, n_passages, seed)
    q, p = emb.embed(rs.queries), emb.embed(rs.passages)
    fit = emb.embed(sample(load_corpus("default").train, fit_texts, seed + 1))
    rows = []
    for d in parse_list(UTILITY_GRID):
        if d.needs_fit:
            d.fit(fit)
        rows.append({"defence": d.spec, **retrieval_scores(d.queries(q), d(p), rs.relevant),
                     "distortion_passages": relative_error(p, d(p)), "details": d.details()})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    meta = {"date": str(date.today()), "machine": machine(), "seconds": time.time() - t0, "embedder": "minilm",
            "fit_texts": fit_texts, "seed": seed}
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "defences_utility.json").write_text(json.dumps({"meta": meta, "retrieval": rs.info, "rows": rows},
                                                                  indent=2))
    print("| defence | recall@10 | NDCG@10 | distortion | fitted |")
    print("|---|---|---|---|---|")
    for r in rows:
        fitted = {k: v for k, v in r["details"].items() if k in ("relative_l2_error_fit", "explained_variance_fit")}
        print(f"| {r['defence']} | {r['recall_at_10']:.3f} | {r['ndcg_at_10']:.3f} | {r['distortion_passages']:.3f} "
              f"| {', '.join(f'{k} {v:.3f}' for k, v in fitted.items())} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inverter", default="minilm", help="an inverter folder or a shipped name")
    ap.add_argument("--defences", default=f"{COMMAND},{MORE}", help="comma-separated defence specs")
    ap.add_argument("--work", default="runs/defences-bench", help="run folder (report, caches, resume)")
    ap.add_argument("--results", default=str(RESULTS), help="where defences.json and defences.png go")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny numbers: checks the pipeline, measures nothing")
    ap.add_argument("--utility-only", action="store_true", help="retrieval utility of a wider grid, no inverter")
    ap.add_argument("--threshold", type=float, default=10.0)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a DefendConfig number, e.g. --set n_texts=60 --set adaptive_steps=200 (repeatable)")
    ap.add_argument("--precision", default="auto")
    args = ap.parse_args()

    from rich.console import Console

    from unembed import load_inverter
    from unembed.defences.measure import DefendConfig, Defender
    from unembed.cli.progress import RichReporter, bars

    results_dir = Path(args.results)
    if args.utility_only:
        return utility_only(results_dir)
    if args.smoke and results_dir.resolve() == RESULTS.resolve():
        sys.exit("--smoke numbers mean nothing: give --results DIR outside benchmarks/results")
    work = Path(args.work)
    if work.exists() and not args.resume:
        shutil.rmtree(work)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in DefendConfig.__dataclass_fields__ or not value:
            sys.exit(f"--set {item}: expected FIELD=VALUE with a DefendConfig field")
        overrides[key] = tuple(int(v) for v in value.split(",")) if key == "leaked_pairs" else type(getattr(DefendConfig(out="-"), key))(value)
    cfg = DefendConfig(out=str(work), defences=args.defences, threshold=args.threshold, resume=args.resume,
                       **(SMOKE if args.smoke else {}), **overrides)
    inv = load_inverter(args.inverter, precision=args.precision)
    t0 = time.time()
    console = Console(stderr=True)
    with bars(console) as p:
        res = Defender(inv, cfg, RichReporter(p)).run().to_dict()
    seconds = time.time() - t0

    results_dir.mkdir(parents=True, exist_ok=True)
    for r in res["defences"]:
        r.pop("examples", None)
    meta = {"date": str(date.today()), "machine": machine(), "seconds": seconds, "inverter": args.inverter,
            "smoke": args.smoke, "work": str(work), "command": "python benchmarks/defences.py " + " ".join(sys.argv[1:])}
    (results_dir / "defences.json").write_text(json.dumps({"meta": meta, **res}, indent=2))
    shutil.copy(work / "utility_leakage.png", results_dir / "defences.png")

    print(f"signature: `{res['signature']['string']}`\n")
    print("| defence | recall@10 | NDCG@10 | BLEU non-adaptive | BLEU adaptive | token F1 adaptive | cosine adaptive "
          "| adaptive attack | Pareto |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in res["defences"]:
        na, ad = r["leakage"]["non_adaptive"], r["leakage"]["adaptive"]

        def f(v, fmt="{:.1f}"):
            return "n/a" if v is None else fmt.format(v)

        print(f"| {r['defence']} | {r['recall_at_10']:.3f} | {r['ndcg_at_10']:.3f} | {na['bleu']:.1f} | {f(ad['bleu'])} "
              f"| {f(ad['token_f1'])} | {f(ad['cosine'], '{:.3f}')} | {ad.get('kind', '')} | {'yes' if r['pareto'] else ''} |")
    print(f"\n{res['recommendation']['text']}")
    print(f"\nwrote {results_dir / 'defences.json'} and {results_dir / 'defences.png'} in {seconds:.0f} s; "
          f"report: {work / 'report.html'}")


if __name__ == "__main__":
    main()
