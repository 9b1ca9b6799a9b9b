"""The glitch audit as one self-contained HTML page: the embedding matrix, the methods compared,
verification by behaviour, and the ranked candidates (shared CSS, escaping and inline PNG plots from
:mod:`unembed.html`; no script, no request).
"""
from __future__ import annotations

import math

import numpy as np

from ..html import e as _e
from ..html import page, png
from .indicators import METHOD_INFO, RANKED_METHODS

__all__ = ["REPORT_ROWS", "render_report"]

REPORT_ROWS = 200


def _pca_axes(title: str):
    """A figure for the 2-D PCA projection of the token embeddings, and its axis."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.2, 5.2))
    ax = fig.add_subplot(111)
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    return fig, ax


def _projection_plot(xy, labels, unused, verified, pool) -> tuple[str, str]:
    """The PCA projection coloured by k-means cluster, and with the candidates marked."""
    fig, ax = _pca_axes("Token embeddings, PCA: k-means clusters")
    ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab20", s=1.5, alpha=0.6, linewidths=0, rasterized=True)
    clusters = png(fig)
    fig, ax = _pca_axes("Known-unused tokens, candidates and verified glitch tokens")
    ax.scatter(xy[:, 0], xy[:, 1], c="#d5d9e2", s=1.5, linewidths=0, rasterized=True, label="vocabulary")
    cand = pool & ~verified
    ax.scatter(xy[cand, 0], xy[cand, 1], c="#f0b35a", s=5, linewidths=0, label="candidate, not verified")
    ax.scatter(xy[unused, 0], xy[unused, 1], c="#5c6bc0", s=5, linewidths=0, label="known-unused")
    ver = verified & ~unused
    ax.scatter(xy[ver, 0], xy[ver, 1], c="#c62828", s=9, marker="x", linewidths=0.8, label="verified (not known-unused)")
    ax.legend(frameon=False, fontsize=8, loc="best", markerscale=2)
    return clusters, png(fig)


def _agreement_plot(summary) -> str:
    from matplotlib.figure import Figure

    agreement = summary["agreement"]
    names = [a for a in agreement if agreement[a][a]["overlap"]]
    mat = np.array([[agreement[a][b]["jaccard"] for b in names] for a in names]).reshape(len(names), len(names))
    fig = Figure(figsize=(5.4, 4.0))
    ax = fig.add_subplot(111)
    ax.set_title("Agreement of the methods' flagged sets (Jaccard; overlap count)", fontsize=11, loc="left")
    ax.imshow(mat, cmap="Reds", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            ax.text(j, i, f"{mat[i, j]:.2f}\n{agreement[a][b]['overlap']}", ha="center", va="center", fontsize=7,
                    color="white" if mat[i, j] > 0.6 else "#1d2330")
    return png(fig)


def _indicator_plot(values: dict, unused: np.ndarray, eligible: np.ndarray, thresholds: dict) -> str:
    """One panel per ranked method: the indicator over eligible and known-unused tokens, and where
    the method's flag threshold falls."""
    from matplotlib.figure import Figure

    names = list(values)
    fig = Figure(figsize=(12.4, 3.3 * math.ceil(len(names) / 2)))
    for k, name in enumerate(names):
        ax = fig.add_subplot(math.ceil(len(names) / 2), 2, k + 1)
        v = values[name]
        lo, hi = np.percentile(v, [0.2, 99.8])
        bins = np.linspace(lo, hi, 60)
        ax.hist(np.clip(v[eligible], lo, hi), bins=bins, color="#9aa3b5", density=True, label="eligible tokens")
        if unused.any():
            ax.hist(np.clip(v[unused], lo, hi), bins=bins, color="#5c6bc0", alpha=0.7, density=True,
                    label="known-unused")
        if thresholds.get(name) is not None:
            ax.axvline(thresholds[name], color="#c62828", linestyle="--", linewidth=1, label="flag threshold")
        ax.set_title(f"{name}: {METHOD_INFO[name].split(' (')[0]}", fontsize=9, loc="left")
        ax.set_ylabel("density", fontsize=8)
        ax.tick_params(labelsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if k == 0:
            ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return png(fig)


def _fmt(x, f="{:.3f}"):
    return "n/a" if x is None else f.format(x)


def _table(head: str, rows) -> str:
    """A table from its header cells (``<th>`` elements) and its rows (``<tr>`` elements)."""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _methods_table(methods: dict) -> str:
    """One row a method: its AUC on known-unused tokens, what it flags, and its precision and recall."""
    rows = []
    for name, m in methods.items():
        if m.get("skipped"):
            rows.append(f"<tr><td><b>{_e(name)}</b><br><span class=small>{_e(m['description'])}</span></td>"
                        f"<td colspan=7 class=small>skipped: {_e(m['skipped'])}</td></tr>")
            continue
        auc = _fmt(m.get("known_unused_auc"))
        if m.get("known_unused_auc_in_sample") is not None:
            auc += f"<br><span class=small>in-sample (circular) {_fmt(m['known_unused_auc_in_sample'])}</span>"
        if m.get("known_unused_auc") is not None and m["known_unused_auc"] < 0.5:
            auc += "<br><span class=small>below 0.5: known-unused look <i>least</i> suspicious</span>"
        rows.append(
            f"<tr><td><b>{_e(name)}</b><br><span class=small>{_e(m['description'])}</span></td>"
            f"<td class=num style=\"white-space:normal;max-width:170px\">{auc}</td>"
            f"<td class=num>{m['flagged']}</td><td class=num>{m['flagged_unreachable']}</td>"
            f"<td class=num>{m['tested_of_flagged']}</td><td class=num>{m['verified_of_flagged']}</td>"
            f"<td class=num>{_fmt(m['precision'], '{:.2f}')}</td><td class=num>{_fmt(m['recall'], '{:.2f}')}</td></tr>")
    return _table("<th>method</th><th>AUC on known-unused</th><th>flagged</th><th>of which unreachable</th>"
                  "<th>behaviour-tested</th><th>verified</th><th>precision</th><th>recall</th>", rows)


def _candidates_table(shown: list[dict], methods: dict) -> str:
    """The flagged tokens ``shown``, with their rank by every ranked method, verdict and why."""
    ranked = [m for m in RANKED_METHODS if m in methods and not methods[m].get("skipped")]
    trs = []
    for k, r in enumerate(shown, 1):
        rk = "<br>".join((f"<b>{_e(m)} {r['ranks'][m]}</b>" if m in r["flagged_by"] else f"{_e(m)} {r['ranks'].get(m) or '-'}")
                         for m in ranked)
        checks = [m for m in r["flagged_by"] if m not in RANKED_METHODS]
        v = r["verdict"]
        colour = {"verified": "bad", "rejected": "ok", "uncertain": "warn"}.get(v, "")
        shown_text = "" if r["text"] == r["token"] else f"<br><span class=small>decodes to {_e(repr(r['text']))}</span>"
        trs.append(f"<tr><td class=num>{k}</td><td class=num>{r['id']}</td><td><code>{_e(r['token'])}</code>{shown_text}</td>"
                   f"<td class=small>{rk}</td><td class=small>{_e(', '.join(checks) or '-')}</td>"
                   f"<td><span class=\"banner {colour}\" style=\"padding:1px 6px\">{_e(v)}</span></td>"
                   f"<td class=small>{_e(r.get('why', ''))}</td></tr>")
    return _table("<th>#</th><th>id</th><th>token</th><th>rank by method (bold: flagged)</th>"
                  "<th>tokenizer check</th><th>verdict</th><th style=\"width:40%\">why</th>", trs)


def _cards(s: dict) -> str:
    cat, beh = s["categories"], s["behaviour"]
    cards = [("tokens", f"{s['n_tokens']:,}", f"{s['model']['dim']}-d rows"),
             ("known-unused", f"{cat['known_unused']:,}", "named unused by the tokenizer"),
             ("unreachable", f"{cat['unreachable']:,}", "no probe string encodes to them"),
             ("candidates", f"{s['candidates']:,}", "flagged by any method, behaviour-tested"),
             ("verified", f"{s['verified']:,}", "glitch by behaviour (outside known-unused)"),
             ("control verified", _fmt(beh["control"]["verified_rate"], "{:.1%}"), f"of {beh['control']['n']} random tokens")]
    return "".join(f'<div class="card"><div class="v">{v}</div><div class="k">{_e(k)}<br>{_e(h)}</div></div>'
                   for k, v, h in cards)


def _inverter_text(inv: dict) -> str:
    if not inv.get("used"):
        return f"Inverter check skipped: {_e(inv.get('reason'))}."
    return (f"Inverter {_e(inv['model_id'])} ({inv['steps']} steps, beam {inv['beam']}) recovered "
            f"{inv['candidates_recovered']} of {inv['candidates_inverted']} verified candidates and "
            f"{inv['control_recovered']} of {inv['control_inverted']} control tokens from carrier-sentence vectors. "
            f"{_e(inv['note'])}.")


def _behaviour_text(beh: dict) -> str:
    """How behaviour verified the tokens: the carrier-sentence test or the repeat prompts."""
    if beh["kind"] != "carrier_sentences":
        return (f"<p>Magikarp's verification: prompts ({_e(', '.join(beh['prompts']))}) ask the model to repeat the "
                f"token; its own probability in the first {beh['new_tokens']} greedy positions is verified below "
                f"{beh['verify_below']} on every prompt and rejected above {beh['reject_above']}.</p>")
    carriers = "".join(f"<li>{_e(c['carrier'])} &mdash; typical shift {c['typical_shift']:.3f}, typical gap between "
                       f"two tokens' sentences {c['typical_gap']:.3f}</li>" for c in beh["carriers"])
    return (f"<p>Every tested token was put, by id, into these carrier sentences; its sentence embedding was "
            f"compared with the sentence without it (shift) and with every other tested token's sentence. A token "
            f"<b>collides</b> on a carrier when at least {beh['collision_crowd']} other tokens' sentences are closer "
            f"to its own than {beh['collision_fraction']:.2f} of the typical gap between two random tokens' "
            f"sentences (under-trained tokens crowd together; a word and its plural only pair up), and is "
            f"<b>inert</b> when it shifts the sentence less than {beh['inert_fraction']:.2f} of a typical token's "
            f"shift. Verified: collides, or is inert, on every carrier; uncertain: collides on some carriers "
            f"only; rejected: otherwise. "
            f"Typical values come from the random control tokens.</p><ul>{carriers}</ul>")


def _rates_table(beh: dict) -> str:
    rows = (
        f"<tr><td>{_e(label)}</td><td class=num>{r['n']}</td><td class=num>{r['verified']}</td><td class=num>{r['rejected']}</td>"
        f"<td class=num>{r['uncertain']}</td><td class=num>{_fmt(r['verified_rate'], '{:.1%}')}</td></tr>"
        for label, r in (("candidates (flagged by any method)", beh["candidates"]),
                         ("random control tokens", beh["control"]), ("known-unused sample (positive control)", beh["known_unused"])))
    return _table("<th>tokens</th><th>tested</th><th>verified</th><th>rejected</th><th>uncertain</th>"
                  "<th>verified share</th>", rows)


def _missed_text(unf: dict) -> str:
    """What the control tokens no method flagged say about the glitch tokens every method missed."""
    if not unf["n"]:
        return ""
    return (f"Of the {unf['n']} control tokens no method flagged, {unf['verified']} "
            f"{'was' if unf['verified'] == 1 else 'were'} verified: of the "
            f"{unf['unflagged_eligible_tokens']:,} tokens no method flags, an estimated "
            f"{unf['estimated_verified_missed_by_all_methods']:,} are glitch tokens every method missed (95% upper "
            f"bound {unf['estimated_missed_upper_95']:,}).")


def _magikarp_note(mk: dict) -> str:
    if not mk.get("cross_fit"):
        return ""
    folds = "; ".join(f"fit on {f['fit']}, scored {f['held_out']} held out: AUC {_fmt(f['auc'])}" for f in mk["cross_fit"])
    return (f"<p class=small>Magikarp on the {_e(mk.get('matrix'))}; reference: {_e(mk.get('reference'))}. "
            f"Cross-fitted AUC {_fmt(mk.get('known_unused_auc'))} ({folds}); scoring each known-unused token with "
            f"a mean it helped to build would give {_fmt(mk.get('known_unused_auc_in_sample'))}, which is circular.</p>")


def render_report(summary: dict, records: list[dict], arrays: dict, rows: int = REPORT_ROWS) -> str:
    """The glitch audit as one self-contained HTML page (inline CSS, PNG plots as data URIs, no script).

    ``summary``: the audit's summary (``GlitchAudit.to_dict()``, as in summary.json); ``records``: the
    candidates in their ranked order. ``arrays``: per-token arrays for the plots: ``xy`` (2-D
    projection), ``labels`` (clusters), ``unused``, ``verified``, ``pool``, ``eligible`` (masks),
    ``indicators`` (name -> values) and ``thresholds`` (name -> the value at a method's flag threshold)."""
    s, a = summary, arrays
    model, cat, settings = s["model"], s["categories"], s["settings"]
    p_clusters, p_marked = _projection_plot(a["xy"], a["labels"], a["unused"], a["verified"], a["pool"])
    p_agree = _agreement_plot(s)
    p_indicators = _indicator_plot(a["indicators"], a["unused"], a["eligible"], a["thresholds"])
    flagged = [r for r in records if r["flagged_by"] and r["role"] != "known_unused"]
    shown = flagged[:rows]
    notes = "".join(f"<li>{_e(n)}</li>" for n in model.get("notes") or [])
    signature = s.get("signature", {}).get("string")
    sig_html = f"<p class=small>Signature: <code>{_e(signature)}</code></p>\n" if signature else ""
    verdict = (f"{s['verified']:,} of the {s['n_tokens']:,} tokens behave as glitch tokens "
               f"({s['verified'] / max(s['n_tokens'], 1):.2%}), besides the {cat['known_unused']:,} the tokenizer names unused; "
               f"{cat['unreachable']:,} tokens cannot be produced from any text this audit tried.")
    body = f"""
<h1>Glitch-token audit</h1>
<div class="sub">{_e(model['name'])} &middot; {_e(model['kind'])} &middot; {s['generated']}</div>
<div class="verdict low">{_e(verdict)}</div>
<div class="cards">{_cards(s)}</div>
<h2>The embedding matrix</h2>
<div class="plots"><figure><img alt="PCA projection with k-means clusters" src="{p_clusters}"></figure>
<figure><img alt="PCA projection with candidates marked" src="{p_marked}"></figure></div>
<h2>Methods compared</h2>
<p class=small>Each ranked method flags its most suspicious {settings['top_fraction']:.1%} of the {cat['eligible']:,} eligible tokens
(not special, not known-unused): {settings['flagged_per_ranked_method']:,} tokens. Tokenizer checks flag every token that fails them.
{_e(settings['evaluation'])}.</p>
{sig_html}{_methods_table(s['methods'])}
{_magikarp_note(s['methods'].get('magikarp', {}))}
<figure style="margin:14px 0;background:#fff;border-radius:6px;padding:8px"><img style="width:100%" alt="indicators" src="{p_indicators}"></figure>
<figure style="max-width:620px;margin:14px 0;background:#fff;border-radius:6px;padding:8px"><img style="width:100%" alt="agreement of the methods" src="{p_agree}"></figure>
<h2>Verification by behaviour</h2>
{_behaviour_text(s['behaviour'])}
{_rates_table(s['behaviour'])}
<p class=small>{_e(_missed_text(s['behaviour']['unflagged_control']))} {_inverter_text(s['inverter'])}</p>
<h2>Ranked candidates</h2>
<p class=small>Ordered by how many ranked methods flag the token, then by its mean rank. Showing {len(shown)} of {len(flagged)};
all of them, with every indicator, are in candidates.jsonl.</p>
{_candidates_table(shown, s['methods'])}
<h2>Notes</h2>
<ul>{notes}<li>Tokenizer probes: each token alone, and after / before the anchor words {_e(', '.join(map(str, s['tokenizer']['anchors'])))}.</li></ul>
"""
    return page(f"unembed glitch-token audit: {model['name']}", body)
