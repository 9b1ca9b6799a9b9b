"""The audit command: read a vector store (read-only), recover its texts, report what leaks."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..audit.adapt import TYPICAL_TIME, AdaptConfig
from ..audit.advice import AdviceConfig
from ..audit.names import check_names, load_names
from ..audit.stores import check_uri, uri_forms
from ..errors import InputError
from .app import EDITS_HELP, PRECISION_HELP, app, check_run_args, console, default, load_for_cli, out
from .progress import counting


def _a(name: str):
    return default(AdaptConfig, name)


def _v(name: str):
    return default(AdviceConfig, name)


@app.command("audit")
def audit_(
    store: str = typer.Argument(..., help="store URI, one of: " + ", ".join(uri_forms())),
    inverter: str = typer.Option("minilm", help="an inverter folder or a shipped name"),
    steps: int = typer.Option(20),
    beam: int = typer.Option(4),
    edits: int = typer.Option(0, help=EDITS_HELP),
    out_dir: Path = typer.Option(Path("audit"), "--out", help="folder for results.jsonl, summary.json and report.html"),
    limit: Optional[int] = typer.Option(None, help="audit only the first N records of the store"),
    sample: Optional[int] = typer.Option(None, help="audit a seeded uniform sample of N records (only those rows are "
                                         "read where the store allows it); every figure gets a 95% interval and "
                                         "an estimate for the whole store. --resume with a larger N extends it"),
    resume: bool = typer.Option(False, "--resume", help="continue an audit in --out: skip ids already in results.jsonl"),
    seed: int = typer.Option(0, help="seed of --sample (the same seed gives the same sample)"),
    batch_size: int = typer.Option(32, help="records inverted and written at a time"),
    force: bool = typer.Option(False, "--force", help="invert even when the embedder check finds the vectors do not fit"),
    embedder: Optional[str] = typer.Option(None, help="override the embedder used for re-embedding"),
    as_json: bool = typer.Option(False, "--json", help="print summary.json on stdout"),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
    adapt: bool = typer.Option(False, "--adapt", help="also attack with the inverter fine-tuned on the store's own "
                                                      f"documents, k-fold ({TYPICAL_TIME}); use with --sample"),
    adapt_folds: int = typer.Option(_a("folds"), help="k of --adapt"),
    adapt_texts: int = typer.Option(_a("texts"), help="documents each fold's inverter is fine-tuned on"),
    adapt_steps: int = typer.Option(_a("hypothesizer_steps"), help="fine-tuning steps of the hypothesizer, a fold"),
    adapt_corrector_steps: int = typer.Option(_a("corrector_steps"), help="then of the corrector"),
    adapt_corpus: Optional[Path] = typer.Option(None, help="adapt on this .txt / .jsonl of public text of the store's "
                                                           "domain instead (for a store without documents; implies --adapt)"),
    advice: bool = typer.Option(True, "--advice/--no-advice",
                                help="end the report with the defences that would cut this store's leakage and what "
                                     "each costs in retrieval on its own documents (a minute or two on a CPU)"),
    advice_defences: str = typer.Option(_v("defences"), help="defences measured for the advice (unembed defend's specs)"),
    advice_records: int = typer.Option(_v("records"), help="audited records whose defended vectors are inverted"),
    names: str = typer.Option("builtin", help="the name-list attack: FILE (one name a line: a staff or customer "
                                              "directory), builtin (308 common given names) or none. Each name is "
                                              "ranked by cosine to each stored vector, no inverter needed, and the "
                                              "audit measures how often the person a record names comes first"),
):
    """Audit a vector store: read its vectors (read-only), recover the text, report what leaks.

    At scale: --sample N for an estimate with 95% intervals in minutes; run it under `torchrun
    --nproc_per_node P -m unembed audit ...` or `accelerate launch --num_processes P -m unembed audit ...`
    to share the records out over P processes (the merged result equals a single process's)."""
    from ..audit import Audit

    # arguments, the store's URI and the output folder are checked before the inverter loads
    check_run_args(steps, beam, batch_size, edits=edits, limit=limit, sample=sample)
    check_uri(store)
    results = out_dir / "results.jsonl"
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file: give a folder")
    if not resume and results.exists() and results.stat().st_size > 0:
        raise InputError(f"{results} already holds results: pass --resume to continue that audit, or choose another --out")
    check_names(names)
    inv = load_for_cli(inverter, embedder, precision)
    name_list = load_names(names, inv.embedder)
    adapt_cfg = None
    if adapt or adapt_corpus is not None:
        adapt_cfg = AdaptConfig(folds=adapt_folds, texts=adapt_texts, hypothesizer_steps=adapt_steps,
                                corrector_steps=adapt_corrector_steps,
                                corpus=str(adapt_corpus) if adapt_corpus is not None else None)
        adapt_cfg.check()
    advice_cfg = AdviceConfig(defences=advice_defences, records=advice_records) if advice else None
    if advice_cfg is not None:
        from ..defences import parse_list

        parse_list(advice_defences)  # a bad spec fails before anything is read
    with Audit(store, inv, out_dir, steps=steps, beam=beam, limit=limit, sample=sample, resume=resume,
               batch_size=batch_size, seed=seed, force=force, adapt=adapt_cfg, advise=advice_cfg, edits=edits,
               names=name_list) as job:
        main = job.ctx.main
        if not main:  # the other processes of a sharded audit work quietly; the main one reports
            job.check()
            job.run()
            return
        if job.ctx.sharded:
            console.print(f"sharded audit: {job.ctx.world} processes, this is the main one")
        if job.done_ids:
            console.print(f"resuming: {len(job.done_ids)} records already in {job.results_path}")
        console.print(f"checking the vectors of {job.settings['store']} against {inv.embedder.name}...")
        fit = job.check()
        colour = {"match": "green", "plausible": "green", "approximate": "yellow"}.get(fit["status"], "red")
        console.print(f"[{colour}]embedder check: {fit['status']}[/{colour}] - {fit.get('message', '')}", highlight=False)
        for note in (fit.get("notes") or []) + list(getattr(job.reader, "notes", [])):
            console.print(f"[dim]note: {note}[/dim]", highlight=False)
        with counting(console, -(-job.todo // job.ctx.world), "auditing") as progress:
            summary = job.run(progress=progress)
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    table = Table("measure", "value", title=f"audit of {summary['store']['uri']}")
    from ..audit.report_sections import card_interval, store_sentences

    table.add_row("records audited", f"{summary['n']} of {summary['store']['count']} in the store")
    table.add_row("mean cosine (attacker's confidence)", f"{summary['cosine']:.3f}{card_interval(summary, 'cosine', '{:.3f}')}"
                  if summary["cosine"] is not None else "n/a")
    if summary["n_with_original"]:
        table.add_row("BLEU", f"{summary['bleu']:.1f}{card_interval(summary, 'bleu')}")
        table.add_row("token F1", f"{summary['token_f1']:.1f}{card_interval(summary, 'token_f1')}")
        table.add_row("exact match", f"{summary['exact_match']:.1f}%{card_interval(summary, 'exact_match')}")
        for kind, v in summary["sensitive"].items():
            if v["found"]:
                table.add_row(f"{kind} recovered", f"{v['recovered']} of {v['found']}")
        ad = (summary.get("adapted") or {}).get("adapted")
        if ad and ad.get("n"):
            table.add_row("adapted attacker: BLEU / token F1", f"{ad['bleu']:.1f} / {ad['token_f1']:.1f}")
    else:
        table.add_row("originals", "not stored: records ranked by cosine in the report")
    if summary.get("name_list"):
        nl = summary["name_list"]
        m = nl["records_naming_a_listed_name"]
        table.add_row("listed names (--names): right one first",
                      f"{nl['right_first']} of {m} records naming one (blind guess {100 * nl['chance_first']:.1f}%)"
                      if m else f"{nl['records']} records ranked; none names a listed person")
    if summary["store"].get("lossy"):
        table.add_row("store", "[yellow]LOSSY: vectors are compressed approximations[/yellow]")
    out.print(table)
    for sentence in store_sentences(summary):
        out.print(f"whole store: {sentence}", highlight=False)
    rec = (summary.get("advice") or {}).get("recommendation") or {}
    if rec.get("text"):
        out.print(f"what to do about it: {rec['text']}", highlight=False)
    thr = summary.get("throughput") or {}
    if thr.get("records"):
        console.print(f"{thr['records']} records in {thr['seconds']:.1f}s ({thr['records_per_second']:.2f} records/s)")
    console.print(f"wrote {out_dir / 'results.jsonl'}, {out_dir / 'summary.json'} and {out_dir / 'report.html'}")
