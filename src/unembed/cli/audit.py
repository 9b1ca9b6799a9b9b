"""The audit command: read a vector store (read-only), recover its texts, report what leaks."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..audit.stores import uri_forms
from .app import PRECISION_HELP, app, console, load_for_cli, out
from .progress import counting


@app.command("audit")
def audit_(
    store: str = typer.Argument(..., help="store URI, one of: " + ", ".join(uri_forms())),
    inverter: str = typer.Option("minilm", help="an inverter folder or a shipped name"),
    steps: int = typer.Option(20),
    beam: int = typer.Option(4),
    out_dir: Path = typer.Option(Path("audit"), "--out", help="folder for results.jsonl, summary.json and report.html"),
    limit: Optional[int] = typer.Option(None, help="audit only the first N records of the store"),
    sample: Optional[int] = typer.Option(None, help="audit a seeded random sample of N records"),
    resume: bool = typer.Option(False, "--resume", help="continue an audit in --out: skip ids already in results.jsonl"),
    seed: int = typer.Option(0, help="seed of --sample"),
    batch_size: int = typer.Option(32, help="records inverted and written at a time"),
    force: bool = typer.Option(False, "--force", help="invert even when the embedder check finds the vectors do not fit"),
    embedder: Optional[str] = typer.Option(None, help="override the embedder used for re-embedding"),
    as_json: bool = typer.Option(False, "--json", help="print summary.json on stdout"),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
):
    """Audit a vector store: read its vectors (read-only), recover the text, report what leaks."""
    from ..audit import Audit

    inv = load_for_cli(inverter, embedder, precision)
    with Audit(store, inv, out_dir, steps=steps, beam=beam, limit=limit, sample=sample, resume=resume,
               batch_size=batch_size, seed=seed, force=force) as job:
        if job.done_ids:
            console.print(f"resuming: {len(job.done_ids)} records already in {job.results_path}")
        console.print(f"checking the vectors of {job.settings['store']} against {inv.embedder.name}...")
        fit = job.check()
        colour = {"match": "green", "plausible": "green", "approximate": "yellow"}.get(fit["status"], "red")
        console.print(f"[{colour}]embedder check: {fit['status']}[/{colour}] - {fit.get('message', '')}", highlight=False)
        for note in (fit.get("notes") or []) + list(getattr(job.reader, "notes", [])):
            console.print(f"[dim]note: {note}[/dim]", highlight=False)
        with counting(console, job.todo, "auditing") as progress:
            summary = job.run(progress=progress)
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    table = Table("measure", "value", title=f"audit of {summary['store']['uri']}")
    table.add_row("records audited", f"{summary['n']} of {summary['store']['count']} in the store")
    table.add_row("mean cosine (attacker's confidence)", f"{summary['cosine']:.3f}" if summary["cosine"] is not None else "n/a")
    if summary["n_with_original"]:
        table.add_row("BLEU", f"{summary['bleu']:.1f}")
        table.add_row("token F1", f"{summary['token_f1']:.1f}")
        table.add_row("exact match", f"{summary['exact_match']:.1f}%")
        for kind, v in summary["sensitive"].items():
            if v["found"]:
                table.add_row(f"{kind} recovered", f"{v['recovered']} of {v['found']}")
    else:
        table.add_row("originals", "not stored: records ranked by cosine in the report")
    if summary["store"].get("lossy"):
        table.add_row("store", "[yellow]LOSSY: vectors are compressed approximations[/yellow]")
    out.print(table)
    thr = summary.get("throughput") or {}
    if thr.get("records"):
        console.print(f"{thr['records']} records in {thr['seconds']:.1f}s ({thr['records_per_second']:.2f} records/s)")
    console.print(f"wrote {out_dir / 'results.jsonl'}, {out_dir / 'summary.json'} and {out_dir / 'report.html'}")
