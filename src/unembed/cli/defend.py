"""The defend command: what each defence costs in retrieval and what it buys against inversion."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ..errors import InputError
from .app import PRECISION_HELP, app, console, load_for_cli, out
from .progress import RichReporter, bars


@app.command()
def defend(
    inverter: str = typer.Option("minilm", help="an inverter folder or a shipped name"),
    defence: List[str] = typer.Option(
        ["noise:0.001,noise:0.01,noise:0.1,rotate:7,int8,binary,pq:16x8,pca:64,ldp:8"], "--defence", "--defense",
        help="comma-separated (or repeated): none, noise:SCALE, mask:FRACTION, rotate:SEED, int8, binary, pq:MxBITS, "
             "pca:K, ldp:EPSILON"),
    out_dir: Path = typer.Option(Path("defend"), "--out", help="folder for results.json(l), report.html and the plot"),
    threshold: float = typer.Option(10.0, help="recommend the cheapest defence whose attackers' BLEU stays below this"),
    n: int = typer.Option(200, "--n", help="texts whose defended vectors are inverted"),
    steps: int = typer.Option(5, help="correction steps of every inversion"),
    beam: int = typer.Option(2),
    seed: int = typer.Option(0),
    corpus: Optional[str] = typer.Option(None, help="corpus of the texts and the attacker's data: 'default' or a file "
                                                    "(default: the one the inverter was trained on)"),
    split: str = typer.Option("test", help="split of that corpus the inverted texts come from"),
    texts: Optional[Path] = typer.Option(None, help="a .txt/.jsonl file of texts to invert instead of a corpus split"),
    queries: int = typer.Option(300, help="retrieval queries (trivia questions)"),
    passages: int = typer.Option(2000, help="retrieval passages (Wikipedia lead sections), relevant ones included"),
    fit_texts: int = typer.Option(10000, help="training texts the fitted defences (pq, pca, int8) are fitted on"),
    adaptive_steps: int = typer.Option(300, help="fine-tuning steps of the adaptive attacker's hypothesizer (0: none)"),
    adaptive_corrector_steps: int = typer.Option(100, help="then of its corrector (0: keep the clean corrector)"),
    adaptive_texts: int = typer.Option(4096, help="training texts the adaptive attacker fine-tunes on"),
    adaptive_batch_size: int = typer.Option(32),
    adaptive_lr: float = typer.Option(1e-4),
    leaked_pairs: str = typer.Option("10,100,1000", help="k of the least-squares attacker on rotate and mask"),
    batch_size: int = typer.Option(64, help="items inverted at a time"),
    resume: bool = typer.Option(False, "--resume", help="continue a run in --out: skip defences already measured"),
    keep_adaptive: bool = typer.Option(False, "--keep-adaptive", help="keep the fine-tuned attackers' checkpoints"),
    embedder: Optional[str] = typer.Option(None, help="override the embedder used for re-embedding"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object per defence"),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
):
    """Measure defences: retrieval utility, and leakage to a non-adaptive and an adaptive attacker."""
    from ..defences.measure import DefendConfig, Defender
    from ..defences import parse_list

    try:
        pairs = tuple(int(k) for k in leaked_pairs.split(",") if k.strip())
    except ValueError:
        raise InputError(f"--leaked-pairs takes comma-separated integers, not '{leaked_pairs}'") from None
    specs = [d.spec for d in parse_list(defence)]  # refuse a bad name before loading anything
    cfg = DefendConfig(out=str(out_dir), defences=specs, n_texts=n, steps=steps, beam=beam, seed=seed, corpus=corpus,
                       split=split, texts=str(texts) if texts else None, n_queries=queries, n_passages=passages,
                       fit_texts=fit_texts, adaptive_steps=adaptive_steps,
                       adaptive_corrector_steps=adaptive_corrector_steps, adaptive_texts=adaptive_texts,
                       adaptive_batch_size=adaptive_batch_size, adaptive_lr=adaptive_lr, leaked_pairs=pairs,
                       threshold=threshold, batch_size=batch_size, resume=resume, keep_adaptive=keep_adaptive)
    cfg.check()
    inv = load_for_cli(inverter, embedder, precision)
    with bars(console) as p:
        results = Defender(inv, cfg, RichReporter(p)).run()
    if as_json:
        keys = ("defence", "recall_at_10", "ndcg_at_10", "leakage", "attacks", "distortion", "details",
                "leakage_for_decision", "pareto", "recommended", "signature")
        for r in results["defences"]:
            print(json.dumps({k: r[k] for k in keys}))
        return
    table = Table("defence", "recall@10", "NDCG@10", "BLEU non-adaptive", "BLEU adaptive", "token F1 adaptive",
                  "cosine adaptive", "adaptive attack", "Pareto", title=f"defences ({results['signature']['n']} texts)")
    for r in results["defences"]:
        na, ad = r["leakage"]["non_adaptive"], r["leakage"]["adaptive"]
        fmt = lambda v, f="{:.1f}": "n/a" if v is None else f.format(v)  # noqa: E731
        table.add_row(("[green]" if r["recommended"] else "") + r["defence"], f"{r['recall_at_10']:.3f}",
                      f"{r['ndcg_at_10']:.3f}", fmt(na["bleu"]), fmt(ad["bleu"]), fmt(ad["token_f1"]),
                      fmt(ad["cosine"], "{:.3f}"), ad.get("kind") or "", "yes" if r["pareto"] else "")
    out.print(table)
    out.print(results["recommendation"]["text"], highlight=False)
    console.print(f"signature: {results['signature']['string']}", highlight=False)
    console.print(f"wrote {out_dir / 'results.json'}, {out_dir / 'report.html'} and {out_dir / 'utility_leakage.png'}")
