"""Self-contained HTML reports of LM inversion: an evaluation, and a defence table with its plot.

Built on ``unembed.html`` (one stylesheet, CSP ``default-src 'none'``, inline PNG, every recovered
prompt escaped), like the audit, defend and glitch reports.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..html import e, figure, num, page, png
from ..io import atomic_write

__all__ = ["evaluation_html", "defence_html", "write_report"]


def _examples(rows: Sequence[dict]) -> str:
    body = "".join(f"<tr><td>{e(r['prompt'])}</td><td>{e(r['recovered'])}</td></tr>" for r in rows)
    return f"<table><tr><th>hidden prompt</th><th>recovered</th></tr>{body}</table>"


def evaluation_html(ev: dict) -> str:
    cards = "".join(f'<div class="card"><div class="v">{num(ev.get(k))}</div><div class="k">{e(label)}</div></div>'
                    for k, label in (("bleu", "BLEU"), ("token_f1", "token F1"), ("exact_match", "exact match %"),
                                     ("queries_per_prompt", "queries per prompt")))
    base = "".join(f"<tr><td>{e(name)}</td><td class='num'>{num((b.get('best') or b).get('bleu'))}</td>"
                   f"<td class='num'>{num((b.get('best') or b).get('exact_match'))}</td></tr>"
                   for name, b in ev.get("baselines", {}).items())
    body = (f"<h1>LM inversion: {e(ev['access'])}</h1><div class='sub'>{e(ev['signature']['string'])}</div>"
            f"<div class='cards'>{cards}</div>"
            f"<h2>Baselines</h2><table><tr><th>baseline</th><th>BLEU</th><th>exact %</th></tr>{base}</table>"
            f"<h2>Examples</h2>{_examples(ev.get('examples', []))}")
    return page("LM inversion", body)


def defence_html(rows: Sequence[dict], signature: str) -> str:
    head = ("<tr><th>defence</th><th>inverter BLEU</th><th>exact %</th><th>queries / prompt</th>"
            "<th>ask-the-model BLEU</th><th>KL(served‖clean)</th><th>greedy agreement</th><th>note</th></tr>")
    body = "".join(
        f"<tr><td class='id'>{e(r['defence'])}</td><td class='num'>{num(r['bleu'])}</td>"
        f"<td class='num'>{num(r['exact_match'])}</td><td class='num'>{num(r['queries_per_prompt'], '{:.0f}')}</td>"
        f"<td class='num'>{num(r['ask_bleu'])}</td><td class='num'>{num(r['kl'], '{:.4f}')}</td>"
        f"<td class='num'>{num(r['greedy_agreement'], '{:.0%}')}</td><td>{e(r['note'])}</td></tr>" for r in rows)
    fig, ax = figure("leakage (inverter BLEU) against cost (KL of served from clean)")
    for r in rows:
        if r["bleu"] is not None and r["kl"] is not None:
            ax.scatter([r["kl"]], [r["bleu"]])
            ax.annotate(r["defence"], (r["kl"], r["bleu"]), fontsize=8)
    ax.set_xlabel("KL(served || clean), nats")
    ax.set_ylabel("inverter BLEU")
    examples = "".join(f"<h2>{e(r['defence'])}</h2>{_examples(r['examples'])}" for r in rows if r.get("examples"))
    html = (f"<h1>LM inversion under serving-side defences</h1><div class='sub'>{e(signature)}</div>"
            f"<table>{head}{body}</table><div class='plots'><figure><img alt='leakage against cost' "
            f"src='{png(fig)}'></figure></div>{examples}")
    return page("LM defences", html)


def write_report(path: Path, html: str) -> Path:
    return atomic_write(Path(path), html)
