"""The defend command: what each defence costs in retrieval and what it buys against inversion.

Every default is ``DefendConfig``'s (through :func:`default`), and the ``--defence`` help lists the
spec forms of the registered defences, read when the help is shown (so a defence registered by a
plug-in is listed too).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table
from typer.core import TyperCommand

from ..defences.config import DEFAULT_DEFENCES, DefendConfig
from ..errors import InputError
from .app import PRECISION_HELP, app, console, default, load_for_cli, out
from .progress import RichReporter, bars


def defence_help() -> str:
    """The ``--defence`` help: every registered spec form, and the whole default list."""
    from ..defences import spec_forms

    return (f"comma-separated (or repeated): {', '.join(spec_forms())} "
            f"(default: {DEFAULT_DEFENCES.replace(',', ', ')})")


class DefendCommand(TyperCommand):
    """The defend command, whose ``--defence`` help is written from the registry when it is shown."""

    def format_help(self, ctx, formatter):
        for param in self.params:
            if param.name == "defence":
                param.help = defence_help()
        return super().format_help(ctx, formatter)


DEFEND_HELP = (
    "Measure defences: retrieval utility, and leakage to a non-adaptive and an adaptive attacker.\n\n"
    "Time: on a 2-core CPU the full default grid with the shipped inverter takes about 2 hours; the grid of "
    "BENCHMARKS.md (60 texts, 5 steps, beam 2, a shortened adaptive fine-tune) took 31 minutes.\n\n"
    "To shrink a run: fewer texts (--n), a shorter fine-tune (--adaptive-steps, --adaptive-corrector-steps, "
    "--adaptive-texts), a smaller retrieval set (--queries, --passages), or fewer --defence specs."
)


def _d(name: str):
    return default(DefendConfig, name)


@app.command(cls=DefendCommand, help=DEFEND_HELP)
def defend(
    inverter: str = typer.Option("minilm", help="an inverter folder or a shipped name"),
    defence: List[str] = typer.Option([_d("defences")], "--defence", "--defense", show_default=False,
                                      help="comma-separated (or repeated) defence specs"),
    out_dir: Path = typer.Option(Path("defend"), "--out", help="folder for results.json(l), report.html and the plot"),
    threshold: float = typer.Option(_d("threshold"),
                                    help="recommend the cheapest defence whose attackers' BLEU stays below this"),
    n: int = typer.Option(_d("n_texts"), "--n", help="texts whose defended vectors are inverted"),
    steps: int = typer.Option(_d("steps"), help="correction steps of every inversion"),
    beam: int = typer.Option(_d("beam")),
    seed: int = typer.Option(_d("seed")),
    corpus: Optional[str] = typer.Option(_d("corpus"), help="corpus of the texts and the attacker's data: 'default' "
                                         "or a file (default: the one the inverter was trained on)"),
    split: str = typer.Option(_d("split"), help="split of that corpus the inverted texts come from"),
    texts: Optional[Path] = typer.Option(_d("texts"), help="a .txt/.jsonl file of texts to invert instead of a "
                                         "corpus split"),
    queries: int = typer.Option(_d("n_queries"), help="retrieval queries (trivia questions)"),
    passages: int = typer.Option(_d("n_passages"), help="retrieval passages (Wikipedia lead sections), relevant "
                                 "ones included"),
    fit_texts: int = typer.Option(_d("fit_texts"), help="training texts the fitted defences (pq, pca, int8) are "
                                  "fitted on"),
    adaptive_steps: int = typer.Option(_d("adaptive_steps"), help="fine-tuning steps of the adaptive attacker's "
                                       "hypothesizer (0: none)"),
    adaptive_corrector_steps: int = typer.Option(_d("adaptive_corrector_steps"),
                                                 help="then of its corrector (0: keep the clean corrector)"),
    adaptive_texts: int = typer.Option(_d("adaptive_texts"), help="training texts the adaptive attacker fine-tunes on"),
    adaptive_batch_size: int = typer.Option(_d("adaptive_batch_size")),
    adaptive_lr: float = typer.Option(_d("adaptive_lr")),
    leaked_pairs: str = typer.Option(",".join(str(k) for k in _d("leaked_pairs")),
                                     help="k of the least-squares attacker on rotate and mask"),
    batch_size: int = typer.Option(_d("batch_size"), help="items inverted at a time"),
    resume: bool = typer.Option(_d("resume"), "--resume", help="continue a run in --out: skip defences already "
                                "measured"),
    keep_adaptive: bool = typer.Option(_d("keep_adaptive"), "--keep-adaptive",
                                       help="keep the fine-tuned attackers' checkpoints"),
    embedder: Optional[str] = typer.Option(None, help="override the embedder used for re-embedding"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object per defence"),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
):
    """Measure defences (see DEFEND_HELP, the help shown)."""
    from ..defences import parse_list
    from ..defences.measure import Defender

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
        for r in results.defences:
            record = r.to_dict()
            print(json.dumps({k: record[k] for k in keys}))
        return
    out.print(results_table(results))
    out.print(results.recommendation["text"], highlight=False)
    console.print(f"signature: {results.signature}", highlight=False)
    console.print(f"wrote {out_dir / 'results.json'}, {out_dir / 'report.html'} and {out_dir / 'utility_leakage.png'}")


def _short_attack(kind: str | None) -> str:
    return (kind or "").replace("least squares, k=", "lstsq k=")


def results_table(results) -> Table:
    """The run's table, narrow enough for 80 columns: the utility, the non-adaptive and the strongest
    adaptive BLEU, which attack that was, and the Pareto front. The rest (recall@10, token F1, cosine,
    every attack run) is in results.json and the report."""
    table = Table("defence", "NDCG@10", "BLEU\nnon-adapt.", "BLEU\nadaptive", "adaptive\nattack", "Pareto",
                  title=f"defences ({results.signature.fields['n']} texts)")
    for column in table.columns:
        column.overflow = "fold"  # a long spec wraps instead of being cut
    for r in results.defences:
        na, ad = r.leakage["non_adaptive"], r.leakage["adaptive"]
        fmt = lambda v: "n/a" if v is None else f"{v:.1f}"  # noqa: E731
        table.add_row(("[green]" if r.recommended else "") + r.defence, f"{r.ndcg_at_10:.3f}", fmt(na["bleu"]),
                      fmt(ad["bleu"]), _short_attack(ad.get("kind")), "yes" if r.pareto else "")
    return table
