"""The ``unembed`` command line. The only module that prints for the user.

Every known problem (an :class:`~unembed.errors.UnembedError`) becomes one line on stderr and exit
code 2; nothing else below this module writes to the terminal.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import InputError, UnembedError
from .progress import RichReporter, bars, counting

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Recover text from text embeddings, and measure what vectors give away.")
console = Console(stderr=True)
out = Console()


def _load(inverter: str, embedder: Optional[str], precision: str = "auto"):
    from .inverter import load_inverter

    emb = None
    if embedder:
        from .embedders import load_embedder

        emb = load_embedder(embedder)
    return load_inverter(inverter, embedder=emb, precision=precision)


PRECISION_HELP = "decoding precision: auto (bf16 where the hardware has it), fp32, bf16"


@app.command()
def train(
    out_dir: Path = typer.Option(..., "--out", help="run folder; the trained inverter is saved here"),
    embedder: str = typer.Option("minilm", help="minilm, a model folder, an http(s):// endpoint"),
    corpus: str = typer.Option("default", help="'default' or a .txt / .jsonl file"),
    model: str = typer.Option("small", help="model size: tiny, small, base"),
    init: str = typer.Option("bert", help="bert (warm-start from MiniLM's weights) or random"),
    max_tokens: int = typer.Option(32, help="longest text, in tokens"),
    batch_size: int = typer.Option(64),
    hypothesizer_steps: int = typer.Option(2000),
    corrector_steps: int = typer.Option(2000),
    corrector_examples: int = typer.Option(0, help="training texts given a hypothesis (0: all)"),
    lr: float = typer.Option(1e-3),
    lr_pretrained: float = typer.Option(3e-4),
    warmup_steps: int = typer.Option(200),
    eval_every: int = typer.Option(500),
    save_every: int = typer.Option(200),
    mixed_precision: str = typer.Option("auto", help="auto, bf16, fp16, no"),
    export_dtype: str = typer.Option("float32", help="float32, float16, bfloat16 or int8 (per-row weight quantisation) weights in the inverter folder"),
    n_validation: int = typer.Option(500),
    n_test: int = typer.Option(500),
    seed: int = typer.Option(0),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out where it stopped"),
):
    """Train an inverter (hypothesizer, then corrector) for an embedder on a corpus."""
    from .training import TrainConfig, train as run_training

    cfg = TrainConfig(out=str(out_dir), embedder=embedder, corpus=corpus, model=model, init=init,
                      max_tokens=max_tokens, batch_size=batch_size, hypothesizer_steps=hypothesizer_steps,
                      corrector_steps=corrector_steps, corrector_examples=corrector_examples, lr=lr,
                      lr_pretrained=lr_pretrained, warmup_steps=warmup_steps, eval_every=eval_every,
                      save_every=save_every, mixed_precision=mixed_precision, export_dtype=export_dtype,
                      n_validation=n_validation, n_test=n_test, seed=seed)
    with bars(console) as p:
        inv = run_training(cfg, resume=resume, reporter=RichReporter(p))
    console.print(f"[green]inverter saved to {out_dir}[/green] ({inv.model_id})")


@app.command()
def invert(
    inverter: str = typer.Option("minilm", help="an inverter folder or a shipped name"),
    vectors: Optional[Path] = typer.Option(None, help=".npy, .npz or .jsonl of vectors"),
    text: Optional[List[str]] = typer.Option(None, help="embed this text, then recover it (repeatable)"),
    steps: int = typer.Option(20),
    beam: int = typer.Option(4),
    batch_size: int = typer.Option(64),
    embedder: Optional[str] = typer.Option(None, help="override the embedder used for re-embedding"),
    out_file: Optional[Path] = typer.Option(None, "--out", help="write results as JSON lines"),
    as_json: bool = typer.Option(False, "--json", help="print results as JSON lines"),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
):
    """Recover texts from vectors (or from texts you embed here)."""
    from .metrics import bleu
    from .vectors import check_vectors, load_vectors

    if (vectors is None) == (not text):
        raise InputError("give either --vectors FILE or --text \"...\"")
    inv = _load(inverter, embedder, precision)
    if vectors is not None:
        ids, arr = load_vectors(vectors)
        originals = None
    else:
        originals = list(text)
        ids, arr = None, inv.embedder.embed(originals)
    ids = ids or [str(i) for i in range(len(arr))]
    arr = check_vectors(arr, inv.dim)  # refuse bad input before any progress bar starts
    with counting(console, len(arr)) as progress:
        results = inv.invert(arr, steps=steps, beam=beam, batch_size=batch_size, progress=progress)
    records = []
    for i, r in zip(ids, results):
        rec = {"id": i, "text": r.text, "cosine": r.cosine, "steps": r.steps, "stopped": r.stopped,
               "history": [{"step": s.step, "text": s.text, "cosine": s.cosine} for s in r.history]}
        records.append(rec)
    if out_file:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text("".join(json.dumps(r) + "\n" for r in records))
        console.print(f"wrote {len(records)} results to {out_file}")
    if as_json:
        for r in records:
            print(json.dumps(r))
    elif not out_file or originals:
        table = Table("id", "original", "recovered", "cosine", *(["BLEU"] if originals else []))
        for k, r in enumerate(records):
            row = [r["id"], originals[k] if originals else "", r["text"], f"{r['cosine']:.3f}"]
            if originals:
                row.append(f"{bleu(inv.embedder.normalize_text(r['text']), inv.embedder.normalize_text(originals[k])):.1f}")
            table.add_row(*row)
        out.print(table)
    s = inv.stats
    console.print(f"{s['n']} inversions in {s['seconds']:.1f}s ({s['inversions_per_second']:.2f}/s), "
                  f"{s['embedder_calls']} embedder calls, {s['texts_embedded']} texts embedded")


@app.command("eval")
def eval_(
    inverter: str = typer.Option("minilm"),
    texts: Path = typer.Option(..., help=".txt (one per line) or .jsonl with a text field"),
    steps: int = typer.Option(20),
    beam: int = typer.Option(4),
    limit: Optional[int] = typer.Option(None, help="evaluate a seeded sample of this many texts"),
    seed: int = typer.Option(0),
    batch_size: int = typer.Option(64),
    no_early_stop: bool = typer.Option(False, "--no-early-stop"),
    embedder: Optional[str] = typer.Option(None),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
):
    """Score an inverter on held-out texts (BLEU, token F1, exact match, cosine, ROUGE-L)."""
    from .corpus import read_texts
    from .evaluate import evaluate, sample

    inv = _load(inverter, embedder, precision)
    data = sample(read_texts(texts), limit, seed)
    _ = inv.embedder  # load and check it before any progress bar starts
    with counting(console, len(data)) as progress:
        res = evaluate(inv, data, steps=steps, beam=beam, data_name=texts.name, seed=seed,
                       batch_size=batch_size, early_stop=not no_early_stop, progress=progress)
    res.pop("_results")
    if as_json:
        print(json.dumps(res))
        return
    table = Table("metric", "value")
    for k in ("bleu", "token_f1", "exact_match", "rouge_l", "cosine", "n", "inversions_per_second",
              "texts_embedded_per_inversion"):
        table.add_row(k, f"{res[k]:.3f}" if isinstance(res[k], float) else str(res[k]))
    if res.get("cased"):
        table.add_row("bleu (case-sensitive)", f"{res['cased']['bleu']:.3f}")
        table.add_row("exact_match (case-sensitive)", f"{res['cased']['exact_match']:.3f}")
    out.print(table)
    out.print(f"signature: {res['signature']['string']}")


@app.command()
def embed(
    texts: Path = typer.Option(..., help=".txt or .jsonl"),
    out_file: Path = typer.Option(..., "--out", help=".npy file to write"),
    embedder: str = typer.Option("minilm"),
):
    """Embed texts into a .npy file (for trying `unembed invert --vectors`)."""
    import numpy as np

    from .corpus import read_texts
    from .embedders import load_embedder

    data = read_texts(texts)
    vecs = load_embedder(embedder).embed(data)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    np.save(out_file, vecs)
    console.print(f"wrote {vecs.shape[0]} x {vecs.shape[1]} vectors to {out_file}")


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("demo_out"), "--out", help="where the demo store and any model go"),
    steps: int = typer.Option(20),
    beam: int = typer.Option(4),
    inverter: Optional[str] = typer.Option(None, help="an inverter folder (default: the shipped one)"),
):
    """The main job on embedded defaults: sentences -> vector store -> vectors -> recovered text."""
    from . import demo as demo_mod

    demo_mod.run(out_dir, steps=steps, beam=beam, console=out, inverter=inverter)


@app.command("audit")
def audit_(
    store: str = typer.Argument(..., help="store URI: chroma:///PATH?collection=NAME, qdrant:///PATH, qdrant+http://HOST:PORT, "
                                          "lancedb:///PATH?table=NAME, faiss:///FILE.index?texts=FILE.jsonl, "
                                          "postgresql://USER@HOST:PORT/DB?table=T, milvus:///FILE.db"),
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
    from .audit import Audit

    inv = _load(inverter, embedder, precision)
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
    from .defend import DefendConfig, Defender
    from .defences import parse_list

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
    inv = _load(inverter, embedder, precision)
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


@app.command("glitch")
def glitch_(
    model: str = typer.Option("minilm", help="minilm (or another bundled embedder), or a local Hugging Face model "
                                             "folder: an encoder / embedder or a causal LM"),
    out_dir: Path = typer.Option(Path("glitch"), "--out", help="folder for candidates.jsonl, summary.json and report.html"),
    clusters: int = typer.Option(20, help="k of the k-means clustering of the token-embedding matrix"),
    inverter: Optional[str] = typer.Option(None, help="encoders: an inverter folder or shipped name (minilm) to test "
                                                      "whether candidates can be recovered; skipped when absent"),
    top: float = typer.Option(0.02, help="fraction of the eligible tokens each ranked method flags (Magikarp: 0.02)"),
    control: int = typer.Option(200, help="random tokens behaviour-tested as a control"),
    known_unused_sample: int = typer.Option(200, help="known-unused tokens behaviour-tested as a positive control"),
    max_per_method: int = typer.Option(1000, help="most tokens behaviour-tested per tokenizer check"),
    batch_size: int = typer.Option(64, help="sentences or prompts run at a time"),
    inverter_steps: int = typer.Option(4, help="correction steps of the inverter check"),
    seed: int = typer.Option(0),
    as_json: bool = typer.Option(False, "--json", help="print summary.json on stdout"),
):
    """Audit a model's vocabulary for glitch (under-trained) tokens and compare the ways to find them."""
    from .glitch import audit_vocabulary, load_vocab_model, resolve_inverter

    if clusters < 2:
        raise InputError(f"--clusters must be at least 2, not {clusters}")
    if not 0 < top <= 0.5:
        raise InputError(f"--top must be above 0 and at most 0.5 (Magikarp flags 0.02), not {top}")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, not {batch_size}")
    vm = load_vocab_model(model)  # refuse a bad model or inverter before any output
    inv, _ = resolve_inverter(inverter, vm)
    console.print(f"auditing the {len(vm.input_matrix)}-token vocabulary of {vm.name} ({vm.kind})...", highlight=False)
    with bars(console) as p:
        s = audit_vocabulary(vm, out_dir, clusters=clusters, inverter=inverter if inv is None else inv, top_fraction=top, control=control,
                             known_unused_sample=known_unused_sample, max_per_method=max_per_method, seed=seed,
                             batch_size=batch_size, inverter_steps=inverter_steps, reporter=RichReporter(p))
    if as_json:
        print(json.dumps(s, ensure_ascii=False))
    else:
        cat = s["categories"]
        console.print(f"{s['n_tokens']} tokens ({s['model']['kind']}): {cat['special']} special, {cat['known_unused']} "
                      f"known-unused, {cat['unreachable']} unreachable, {cat['round_trip_failure']} fail decode -> encode; "
                      f"{s['candidates']} candidates behaviour-tested, {s['verified']} verified", highlight=False)
        table = Table("method", "AUC known-unused", "flagged", "tested", "verified", "precision", "recall",
                      title=f"glitch-token methods on {s['model']['name']}")

        def f(x, spec="{:.3f}"):
            return "n/a" if x is None else spec.format(x)

        for name, m in s["methods"].items():
            if m.get("skipped"):
                table.add_row(name, "skipped", "", "", "", "", "")
                continue
            table.add_row(name, f(m.get("known_unused_auc")), str(m["flagged"]), str(m["tested_of_flagged"]),
                          str(m["verified_of_flagged"]), f(m["precision"], "{:.2f}"), f(m["recall"], "{:.2f}"))
        out.print(table)
        beh = s["behaviour"]
        console.print(f"behaviour verified {f(beh['control']['verified_rate'], '{:.1%}')} of {beh['control']['n']} random "
                      f"control tokens and {f(beh['known_unused']['verified_rate'], '{:.1%}')} of {beh['known_unused']['n']} "
                      "known-unused ones", highlight=False)
        if not s["inverter"]["used"]:
            console.print(f"[dim]inverter check skipped: {s['inverter']['reason']}[/dim]", highlight=False)
    console.print(f"wrote {out_dir / 'candidates.jsonl'}, {out_dir / 'summary.json'} and {out_dir / 'report.html'} "
                  f"in {s['timings']['total']:.1f}s", highlight=False)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except UnembedError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]")
        sys.exit(130)


if __name__ == "__main__":
    main()
