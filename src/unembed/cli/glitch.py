"""The glitch command: audit a model's vocabulary for under-trained tokens."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..errors import InputError
from .app import app, console, out
from .progress import RichReporter, bars


GLITCH_HELP = (
    "Audit a model's vocabulary for glitch (under-trained) tokens and compare the ways to find them.\n\n"
    "Typical time on this CPU: about 17 s for MiniLM's 30,522-token vocabulary at the defaults. A causal LM takes "
    "longer: it runs the repeat prompts (three prompts, three generated tokens each) for every candidate.\n\n"
    "To shrink a run, behaviour-test fewer tokens: a smaller --control (random tokens; at least 10 for an encoder), "
    "--known-unused-sample, --max-per-method (the tokenizer checks' flagged tokens tested) or --top (the fraction of "
    "the eligible tokens each ranked method flags)."
)


@app.command("glitch", help=GLITCH_HELP)
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
    """The ``unembed glitch`` command; its help is :data:`GLITCH_HELP`."""
    from ..glitch import audit_vocabulary, load_vocab_model, resolve_inverter

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
        audit = audit_vocabulary(vm, out_dir, clusters=clusters, inverter=inverter if inv is None else inv,
                                 top_fraction=top, control=control, known_unused_sample=known_unused_sample,
                                 max_per_method=max_per_method, seed=seed, batch_size=batch_size,
                                 inverter_steps=inverter_steps, reporter=RichReporter(p))
    if as_json:
        print(json.dumps(audit.to_dict(), ensure_ascii=False))
    else:
        cat = audit.categories
        console.print(f"{audit.n_tokens} tokens ({audit.model['kind']}): {cat['special']} special, "
                      f"{cat['known_unused']} known-unused, {cat['unreachable']} unreachable, "
                      f"{cat['round_trip_failure']} fail decode -> encode; {audit.candidates} candidates "
                      f"behaviour-tested, {audit.verified} verified", highlight=False)
        out.print(methods_table(audit.methods, audit.model["name"]))
        beh = audit.behaviour
        console.print(f"behaviour verified {_fmt(beh['control']['verified_rate'], '{:.1%}')} of "
                      f"{beh['control']['n']} random control tokens and "
                      f"{_fmt(beh['known_unused']['verified_rate'], '{:.1%}')} of {beh['known_unused']['n']} "
                      "known-unused ones", highlight=False)
        if not audit.inverter["used"]:
            console.print(f"[dim]inverter check skipped: {audit.inverter['reason']}[/dim]", highlight=False)
        out.print(f"signature: {audit.signature}", highlight=False, soft_wrap=True)
    console.print(f"wrote {out_dir / 'candidates.jsonl'}, {out_dir / 'summary.json'} and {out_dir / 'report.html'} "
                  f"in {audit.timings['total']:.1f}s", highlight=False)


def _fmt(x, spec="{:.3f}"):
    return "n/a" if x is None else spec.format(x)


def methods_table(methods: dict, model_name: str) -> Table:
    """The methods compared, one row each, narrow enough for an 80-column terminal."""
    table = Table("method", "AUC", "flagged", "tested", "verified", "prec.", "recall",
                  title=f"glitch-token methods on {model_name}",
                  caption="AUC: known-unused vs eligible; prec.: verified share of tested flagged")
    for name, m in methods.items():
        if m.get("skipped"):
            table.add_row(name, "skipped", "", "", "", "", "")
            continue
        table.add_row(name, _fmt(m.get("known_unused_auc")), str(m["flagged"]), str(m["tested_of_flagged"]),
                      str(m["verified_of_flagged"]), _fmt(m["precision"], "{:.2f}"), _fmt(m["recall"], "{:.2f}"))
    return table
