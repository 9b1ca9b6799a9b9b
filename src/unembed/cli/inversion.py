"""Commands of embedding inversion: train, invert, eval, embed, demo."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ..errors import InputError
from ..inversion.training.config import TrainConfig
from .app import (EDITS_HELP, PRECISION_HELP, app, check_run_args, check_texts_given, console, default, load_for_cli,
                  out, with_loop_options)
from .progress import RichReporter, bars, counting


def _t(name: str):
    return default(TrainConfig, name)


@app.command()
@with_loop_options(TrainConfig)
def train(
    out_dir: Path = typer.Option(..., "--out", help="run folder; the trained inverter is saved here"),
    start_from: Optional[str] = typer.Option(
        None, "--from", help="continue this inverter (minilm or a folder) on --corpus: both stages, its embedder "
                             "kept. Adapting to a domain takes about an hour on a 2-core CPU with 2,000 "
                             "hypothesizer and 1,000 corrector steps of batch 32 on 20,000 texts"),
    embedder: str = typer.Option(_t("embedder"), help="minilm, a model folder, an http(s):// endpoint"),
    corpus: str = typer.Option(_t("corpus"), help="'default', 'sources:NAME,NAME', or a .txt / .jsonl file"),
    model: str = typer.Option(_t("model"), help="model size: tiny, small, base (not with --from)"),
    init: str = typer.Option(_t("init"), help="bert (warm-start from MiniLM's weights) or random (not with --from)"),
    max_tokens: int = typer.Option(_t("max_tokens"), help="longest text, in tokens"),
    train_texts: int = typer.Option(_t("train_texts"), help="train on a seeded sample of this many corpus texts (0: all)"),
    sample_seed: Optional[int] = typer.Option(None, help="seed of the --train-texts sample (default: --seed); the "
                                              "splits stay --seed's, so a continued run can draw texts the last "
                                              "one did not see and still be measured on the same test split"),
    hypothesizer_steps: int = typer.Option(_t("hypothesizer_steps")),
    corrector_steps: int = typer.Option(_t("corrector_steps")),
    corrector_examples: int = typer.Option(_t("corrector_examples"), help="training texts given a hypothesis (0: all)"),
    corrector_rounds: int = typer.Option(_t("corrector_rounds"),
                                         help="rounds of the corrector's own outputs it learns from (1: round 0 only)"),
    lr: float = typer.Option(_t("lr"), help="learning rate of fresh parameters"),
    lr_pretrained: float = typer.Option(_t("lr_pretrained"), help="of warm-started ones (with --from: of all)"),
    mixed_precision: str = typer.Option(_t("mixed_precision"), help="auto, bf16, fp16, no"),
    export_dtype: str = typer.Option(_t("export_dtype"), help="float32, float16, bfloat16 or int8 (per-row weight "
                                                              "quantisation) weights in the inverter folder"),
    **loop,
):
    """Train an inverter (hypothesizer, then corrector) for an embedder on a corpus, or continue one (--from).

    Time on a 2-core CPU with native bf16 (AVX512-BF16 or AMX): about 41 examples/s for the small hypothesizer and 23 for its corrector (texts of up to 32 tokens), so the defaults (2,000 + 2,000 steps of 64) take about 2.5 hours; on a 2-core AVX2 CPU without it (fp32, texts of up to 64 tokens) about 7.5 and 5.6 examples/s, so about 11 hours; shrink with --hypothesizer-steps, --corrector-steps and --batch-size. Interrupt at any time (Ctrl-C): --resume continues where it stopped.
    """
    resume = loop.pop("resume")
    cfg = TrainConfig(out=str(out_dir), embedder=embedder, corpus=corpus, model=model, init=init,
                      start_from=start_from, max_tokens=max_tokens, train_texts=train_texts, sample_seed=sample_seed,
                      hypothesizer_steps=hypothesizer_steps, corrector_steps=corrector_steps,
                      corrector_examples=corrector_examples, corrector_rounds=corrector_rounds, lr=lr,
                      lr_pretrained=lr_pretrained, mixed_precision=mixed_precision, export_dtype=export_dtype, **loop)
    cfg.check()  # bad options fail before anything loads
    from ..inversion.training import train as run_training

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
    edits: int = typer.Option(0, help=EDITS_HELP),
    batch_size: int = typer.Option(64),
    embedder: Optional[str] = typer.Option(None, help="override the embedder used for re-embedding"),
    out_file: Optional[Path] = typer.Option(None, "--out", help="write results as JSON lines"),
    as_json: bool = typer.Option(False, "--json", help="print results as JSON lines"),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
):
    """Recover texts from vectors (or from texts you embed here)."""
    from ..metrics import bleu
    from ..vectors import check_vectors, load_vectors

    if (vectors is None) == (not text):
        raise InputError("give either --vectors FILE or --text \"...\"")
    check_run_args(steps, beam, batch_size, edits=edits)  # bad arguments fail before the inverter loads
    ids, arr, originals = None, None, None
    if vectors is not None:
        ids, arr = load_vectors(vectors)
    else:
        originals = check_texts_given(list(text))
    inv = load_for_cli(inverter, embedder, precision)
    if originals is not None:
        arr = inv.embedder.embed(originals)
    ids = ids or [str(i) for i in range(len(arr))]
    arr = check_vectors(arr, inv.dim, invertible=True)  # refuse bad input before any progress bar starts
    with counting(console, len(arr)) as progress:
        results = inv.invert(arr, steps=steps, beam=beam, batch_size=batch_size, progress=progress, edits=edits)
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
    edits: int = typer.Option(0, help=EDITS_HELP),
    limit: Optional[int] = typer.Option(None, help="evaluate a seeded sample of this many texts"),
    seed: int = typer.Option(0),
    batch_size: int = typer.Option(64),
    no_early_stop: bool = typer.Option(False, "--no-early-stop"),
    embedder: Optional[str] = typer.Option(None),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
):
    """Score an inverter on held-out texts (BLEU, token F1, exact match, cosine, ROUGE-L).

    Under `torchrun --nproc_per_node P -m unembed eval ...` (or accelerate launch) the texts are shared out
    over P processes; the result equals a single process's."""
    from ..corpus import read_texts
    from ..inversion.evaluate import evaluate, sample

    check_run_args(steps, beam, batch_size, limit=limit, edits=edits)
    data = sample(read_texts(texts), limit, seed)  # a bad or empty texts file fails before the inverter loads
    if not data:
        raise InputError(f"{texts} holds no texts (blank lines are skipped): give one text a line")
    inv = load_for_cli(inverter, embedder, precision)
    _ = inv.embedder  # load and check it before any progress bar starts
    with counting(console, len(data)) as progress:
        res = evaluate(inv, data, steps=steps, beam=beam, data_name=texts.name, seed=seed,
                       batch_size=batch_size, early_stop=not no_early_stop, progress=progress, edits=edits)
    res = res.to_dict()
    from ..distributed import context

    if not context().main:  # a sharded evaluation (torchrun / accelerate launch): the main process reports
        return
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

    from ..corpus import read_texts
    from ..embedders import load_embedder

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
