"""The utility-against-leakage plot and the self-contained HTML report of a ``defend`` run.

Both read the JSON form of the results (``DefendResult.to_dict()``, i.e. ``results.json``), so a
report can be drawn again from a results file. The page is built from the shared pieces of
:mod:`unembed.html`: no script, no external resource (CSP ``default-src 'none'``). Each family's
colour is the one its defence class declares (``transforms.colour``).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from ..html import e, figure, num, page, png
from .transforms import colour

__all__ = ["utility_leakage_figure", "render_report"]

_EXTRA_CSS = ("td:first-child{min-width:190px}td.att{min-width:220px}.verdict.ok{border-left-color:#2e7d32}"
              ".pick td{background:#edf7ed}tr.sub2 th{font-weight:400;font-size:12px;color:#5a6275}"
              "details{background:#fff;margin:6px 0;padding:6px 10px;border-radius:4px}summary{cursor:pointer}")


def _family_curves(ax, records: list[dict]) -> None:
    families: dict[str, list[dict]] = {}
    for r in records:
        families.setdefault(r["family"], []).append(r)
    for fam, rows in families.items():
        rows = sorted(rows, key=lambda r: r["strength"])
        c = colour(fam)
        xs = [r["leakage_for_decision"] for r in rows]
        ys = [r["ndcg_at_10"] for r in rows]
        ax.plot(xs, ys, "-" if len(rows) > 1 else "", marker="*" if fam == "none" else "o", color=c,
                markersize=12 if fam == "none" else 7, label=fam, zorder=3)
        for r in rows:
            na = r["leakage"]["non_adaptive"]["bleu"]
            if abs(na - r["leakage_for_decision"]) > 1e-9:
                ax.plot([na], [r["ndcg_at_10"]], marker="o", mfc="none", color=c, markersize=6, zorder=2)
                ax.plot([na, r["leakage_for_decision"]], [r["ndcg_at_10"]] * 2, ":", color=c, linewidth=0.8)
            ax.annotate(r["defence"], (r["leakage_for_decision"], r["ndcg_at_10"]), textcoords="offset points",
                        xytext=(5, 4), fontsize=7.5, color=c)


def utility_leakage_figure(records: list[dict], threshold: float):
    """NDCG@10 against leakage (BLEU of the strongest attacker): one curve per family over its strength,
    hollow markers for the non-adaptive attacker, the Pareto front dashed."""
    fig, ax = figure("Utility against leakage: up and left is better", size=(8.4, 5.2))
    _family_curves(ax, records)
    front = sorted((r for r in records if r.get("pareto")), key=lambda r: r["leakage_for_decision"])
    if front:
        ax.plot([r["leakage_for_decision"] for r in front], [r["ndcg_at_10"] for r in front], "--", color="#1d2330",
                linewidth=1.2, label="Pareto front", zorder=1)
        ax.scatter([r["leakage_for_decision"] for r in front], [r["ndcg_at_10"] for r in front], s=140,
                   facecolors="none", edgecolors="#1d2330", linewidths=1.0, zorder=4)
    pick = next((r for r in records if r.get("recommended")), None)
    if pick:
        ax.scatter([pick["leakage_for_decision"]], [pick["ndcg_at_10"]], s=320, facecolors="none",
                   edgecolors="#2e7d32", linewidths=2.2, zorder=5, label="recommended")
    ax.axvline(threshold, color="#5a6275", linestyle="-.", linewidth=1)
    ax.text(threshold, ax.get_ylim()[1], f" threshold BLEU {threshold:g}", fontsize=8, va="top", color="#5a6275")
    xmax = max([r["leakage_for_decision"] for r in records] + [threshold])
    ax.set_xlim(-1, max(5.0, xmax * 1.12))
    ax.set_ylim(0, max([r["ndcg_at_10"] for r in records] + [0.1]) * 1.08)
    ax.set_xlabel("leakage: BLEU of the strongest attacker run (filled); non-adaptive attacker (hollow)")
    ax.set_ylabel("utility: NDCG@10")
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def _defences_table(recs: list[dict]) -> str:
    rows = []
    for r in recs:
        na, ad = r["leakage"]["non_adaptive"], r["leakage"]["adaptive"]
        cls = ' class="pick"' if r.get("recommended") else ""
        rows.append(
            f"<tr{cls}><td><b>{e(r['defence'])}</b><div class=small>{e(r['description'])}</div></td>"
            f"<td class=num>{r['recall_at_10']:.3f}</td><td class=num>{r['ndcg_at_10']:.3f}</td>"
            f"<td class=num>{r['distortion']:.3f}</td>"
            f"<td class=num>{na['bleu']:.1f}</td><td class=num>{na['token_f1']:.1f}</td>"
            f"<td class=num>{na['exact_match']:.1f}</td><td class=num>{na['cosine']:.3f}</td>"
            f"<td class=num>{num(ad['bleu'])}</td><td class=num>{num(ad['token_f1'])}</td>"
            f"<td class=num>{num(ad['exact_match'])}</td><td class=num>{num(ad['cosine'], '{:.3f}')}</td>"
            f"<td class='small att'>{e(ad.get('attack'))}</td>"
            f"<td class=num>{'yes' if r.get('pareto') else ''}</td></tr>")
    return ("<table><thead><tr><th>defence</th><th>recall@10</th><th>NDCG@10</th><th>distortion</th>"
            "<th>BLEU</th><th>token F1</th><th>exact %</th><th>cosine</th>"
            "<th>BLEU</th><th>token F1</th><th>exact %</th><th>cosine</th><th>adaptive attack</th><th>Pareto</th>"
            "</tr><tr class=sub2><th></th><th colspan=3>utility</th><th colspan=4>non-adaptive attacker</th>"
            "<th colspan=5>adaptive attacker (the strongest run)</th><th></th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _least_squares_table(recs: list[dict]) -> str:
    rows = "".join(
        f"<tr><td>{e(r['defence'])}</td><td class=num>{a['leaked_pairs']}</td><td class=num>{a['map_cosine']:.3f}</td>"
        f"<td class=num>{a['bleu']:.1f}</td><td class=num>{a['token_f1']:.1f}</td><td class=num>{a['exact_match']:.1f}</td>"
        f"<td class=num>{a['cosine']:.3f}</td></tr>"
        for r in recs for a in r["attacks"] if "leaked_pairs" in a)
    if not rows:
        return ""
    return ("<h2>Least-squares attacker against keyed defences</h2><p class=small>The attacker holds k (text, stored "
            "vector) pairs, embeds the texts, fits W = pinv(Y) X, maps every stored vector back (rescaled to unit norm) "
            "and inverts it with the clean inverter. map cosine: mean cosine of the mapped vectors to the clean ones."
            "</p><table><thead><tr><th>defence</th><th>leaked pairs k</th><th>map cosine</th><th>BLEU</th><th>token F1"
            f"</th><th>exact %</th><th>cosine</th></tr></thead><tbody>{rows}</tbody></table>")


def _examples(recs: list[dict]) -> str:
    out = []
    for r in recs:
        trs = "".join(f"<tr><td>{e(x['original'])}</td><td>{e(x['non_adaptive'])}</td><td>{e(x['adaptive'])}</td></tr>"
                      for x in r["examples"])
        out.append(f"<details><summary>{e(r['defence'])}</summary><table><thead><tr><th>original</th><th>non-adaptive "
                   f"attacker</th><th>adaptive attacker</th></tr></thead><tbody>{trs}</tbody></table></details>")
    return "".join(out)


def _parameters_table(recs: list[dict]) -> str:
    rows = "".join(f"<tr><td>{e(r['defence'])}</td><td class=small>{e(json.dumps(r['details']))}</td>"
                   f"<td class=num>{r['seconds']:.0f} s</td></tr>" for r in recs)
    return ("<table><thead><tr><th>defence</th><th>parameters and fitted facts</th><th>time</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _method(sig: dict, ret: dict) -> str:
    und = ret["undefended"]
    method = [
        ("inverter", e(sig["model"])), ("embedder", e(sig["embedder"])),
        ("texts inverted", e(f"{sig['n']} from {sig['data']} (split: {sig['split']}), steps {sig['steps']}, "
                             f"beam {sig['beam']}, seed {sig['seed']}")),
        ("retrieval set", e(f"{ret['name']}: {ret['queries']} queries, {ret['passages']} passages "
                            f"({ret['relevant_passages']} relevant, {ret['distractors']} distractors); {ret['how']}. "
                            f"Undefended: recall@10 {und['recall_at_10']:.3f}, NDCG@10 {und['ndcg_at_10']:.3f}.")),
        ("fitted defences", e(f"pq, pca, int8 fitted on {sig['fit']} (training split; never the inverted texts)")),
        ("adaptive attacker", e("noise, quantisation, pca, ldp: the clean inverter fine-tuned on defended vectors of "
                                f"training texts ({sig['adaptive']}); rotation and masking: least-squares map from k "
                                f"leaked pairs, k in {sig['leaked_pairs']}")),
        ("leakage for the decision", e("the highest BLEU of every attacker run against the defence")),
        ("cost", e("NDCG@10 lost against the undefended vectors")),
        ("distortion", e("mean relative L2 error ||D(e) - e|| / ||e|| of the inverted texts' vectors")),
        ("BLEU", e(sig["metrics"]["bleu"])), ("normalisation", e(sig["metrics"]["normalization"])),
        ("cosine", e(sig["metrics"]["cosine"])), ("signature", f"<code>{e(sig['string'])}</code>"),
    ]
    return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in method) + "</dl>"


def render_report(results: dict, fig=None) -> str:
    """The defence report as one HTML page: no script, no external resource (CSP default-src 'none')."""
    recs, rec, sig = results["defences"], results["recommendation"], results["signature"]
    fig = fig if fig is not None else utility_leakage_figure(recs, results["threshold"])
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    verdict = "low" if rec.get("defence") is None else "ok"
    body = f"""
<h1>Defences: what they cost in retrieval, what they buy against inversion</h1>
<div class="sub">{e(sig['model'])} &middot; {e(sig['embedder'])} &middot; {sig['n']} texts &middot; {when}</div>
<div class="verdict {verdict}">{e(rec['text'])}</div>
<div class="plots"><figure><img alt="utility against leakage" src="{png(fig)}"></figure></div>
<h2>Every defence</h2>
{_defences_table(recs)}
{_least_squares_table(recs)}
<h2>Examples (the first texts)</h2>
{_examples(recs)}
<h2>Defence parameters</h2>
{_parameters_table(recs)}
<h2>Method</h2>
{_method(sig, results["retrieval"])}
"""
    return page("unembed defences", body, _EXTRA_CSS)
