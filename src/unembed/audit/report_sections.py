"""The audit report's sections for audits at scale: intervals and store-wide estimates, the stock
against the adapted attacker, what to do about it (the defences), and the name-list attack. Each takes the summary and
returns HTML ('' when the audit has nothing for it)."""
from __future__ import annotations

from ..html import e as _e

KIND_NAMES = {"email": "an e-mail address", "phone": "a phone number", "date": "a date", "number": "a number",
              "name": "a personal name"}
FIGURE_LABELS = {"bleu": "BLEU", "token_f1": "token F1", "exact_match": "exact match (%)",
                 "cosine": "mean cosine (attacker's confidence)"}


def human(n: float) -> str:
    """2100000 -> '2.1M', 31500 -> '31.5k', 850 -> '850'."""
    n = float(n)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}"
    return f"{n:.0f}"


def _figures(s: dict) -> dict:
    return ((s.get("intervals") or {}).get("figures")) or {}


def card_interval(s: dict, key: str, fmt: str = "{:.1f}") -> str:
    """' (95%: lo-hi)' for a headline card, when the audit has an interval for it."""
    f = _figures(s).get(key)
    if not f or f.get("low") is None or f["low"] == f["high"]:
        return ""
    return f" · 95%: {fmt.format(f['low'])}–{fmt.format(f['high'])}"


def store_sentences(s: dict) -> list[str]:
    """'about 31% (27-35%) of the 2.1M records leak a personal name (650k, 570k-740k)'."""
    figs = _figures(s)
    out = []
    for kind, entry in (figs.get("sensitive") or {}).items():
        rec, est = entry["records_leaking"], entry.get("store_estimate")
        if not rec.get("records_with_kind") or est is None:
            continue
        half = (rec["high"] - rec["low"]) / 2
        out.append(f"about {rec['estimate']:.0f}% ± {half:.0f} ({rec['low']:.1f}–{rec['high']:.1f}%) of the "
                   f"{human(est['of'])} records leak {KIND_NAMES.get(kind, kind)}: {human(est['records'])} records "
                   f"({human(est['low'])}–{human(est['high'])})")
    named = figs.get("name_list_records")
    if named and named.get("store_estimate"):
        est, half = named["store_estimate"], (named["high"] - named["low"]) / 2
        out.append(f"about {named['estimate']:.0f}% ± {half:.0f} ({named['low']:.1f}–{named['high']:.1f}%) of the "
                   f"{human(est['of'])} records name a person whom the name list ranks first: "
                   f"{human(est['records'])} records ({human(est['low'])}–{human(est['high'])})")
    em = figs.get("exact_match")
    if em and em.get("store_estimate"):
        est = em["store_estimate"]
        out.append(f"about {em['estimate']:.1f}% ({em['low']:.1f}–{em['high']:.1f}%) of the {human(est['of'])} records "
                   f"are recovered word for word: {human(est['records'])} ({human(est['low'])}–{human(est['high'])})")
    return out


def intervals_html(s: dict) -> str:
    iv = s.get("intervals") or {}
    if not iv.get("n"):
        return ""
    sampling = s.get("sampling") or {}
    head = (f"<h2>How sure: {iv['n']:,} of {iv.get('population') or 0:,} records</h2>"
            f"<p class=small>Selection: {_e(sampling.get('how', ''))} (seed {_e(sampling.get('seed'))}).</p>")
    for key in ("note", "note_reservoir"):
        if iv.get(key):
            head += f"<p class=small>{_e(iv[key])}.</p>"
    figs = iv.get("figures")
    if not figs:
        return head
    rows = []

    def row(label, f, fmt="{:.1f}", unit=""):
        if not f or f.get("estimate") is None:
            return
        nf = f.get("n_for") or {}
        need = " · ".join(f"±{k}{unit}: {v:,}" for k, v in nf.items())
        rows.append(f"<tr><td>{_e(label)}</td><td class=num>{fmt.format(f['estimate'])}</td>"
                    f"<td class=num>{fmt.format(f['low'])} – {fmt.format(f['high'])}</td>"
                    f"<td class=small>{_e(f.get('method', ''))}</td><td class=small>{_e(need)}</td></tr>")

    for key in ("bleu", "token_f1", "exact_match"):
        row(FIGURE_LABELS[key], figs.get(key))
    row(FIGURE_LABELS["cosine"], figs.get("cosine"), "{:.3f}")
    for kind, entry in (figs.get("sensitive") or {}).items():
        if entry["records_leaking"].get("records_with_kind"):
            row(f"records leaking {KIND_NAMES.get(kind, kind)} (%)", entry["records_leaking"])
        if entry.get("items_recovered"):
            row(f"{kind} items recovered (%)", entry["items_recovered"])
    for kind, f in (figs.get("leaked_patterns") or {}).items():
        row(f"records whose recovered text shows {KIND_NAMES.get(kind, kind)} (%)", f)
    table = ("<table><thead><tr><th>figure</th><th>estimate</th><th>95% interval</th><th>how</th>"
             "<th>records for an interval of ± (points; cosine in units)</th></tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>")
    sentences = store_sentences(s)
    store = ("<p>For the whole store: " + "; ".join(_e(x) for x in sentences) + ".</p>") if sentences else ""
    return head + store + table


def _leak_cell(f: dict | None, key: str, fmt: str = "{:.1f}") -> str:
    if not f or f.get(key) is None:
        return "<td class=num>n/a</td>"
    iv = (f.get("intervals") or {}).get(key) or {}
    extra = (f" <span class=small>({fmt.format(iv['low'])}–{fmt.format(iv['high'])})</span>"
             if iv.get("low") is not None and iv["low"] != iv["high"] else "")
    return f"<td class=num>{fmt.format(f[key])}{extra}</td>"


def adapted_html(s: dict) -> str:
    a = s.get("adapted")
    if not a:
        return ""
    stock, adapted = a.get("stock") or {}, a.get("adapted") or {}
    rows = []
    for key, label in (("bleu", "BLEU"), ("token_f1", "token F1"), ("exact_match", "exact match (%)"),
                       ("cosine", "mean cosine")):
        fmt = "{:.3f}" if key == "cosine" else "{:.1f}"
        rows.append(f"<tr><td>{label}</td>{_leak_cell(stock, key, fmt)}{_leak_cell(adapted, key, fmt)}</tr>")
    for kind, label in KIND_NAMES.items():
        st, ad = (stock.get("sensitive") or {}).get(kind) or {}, (adapted.get("sensitive") or {}).get(kind) or {}
        if st.get("found"):
            rows.append(f"<tr><td>{_e(kind)} items recovered</td><td class=num>{st['recovered']} of {st['found']}</td>"
                        f"<td class=num>{ad.get('recovered', 0)} of {ad.get('found', 0)}</td></tr>")
    status = "" if a.get("status") == "complete" else f" <b>({_e(a.get('status'))})</b>"
    return (f"<h2>A domain-adapted attacker{status}</h2><p>{_e(a.get('how', ''))}</p>"
            "<table><thead><tr><th>figure</th><th>stock inverter</th><th>adapted inverter</th></tr></thead><tbody>"
            + "".join(rows) + f"</tbody></table><p class=small>Both over the same {adapted.get('n', 0)} records; "
            "95% intervals in brackets.</p>")


def advice_html(s: dict) -> str:
    adv = s.get("advice")
    if not adv:
        return ""
    if adv.get("skipped"):
        return f"<h2>What to do about it</h2><p>{_e(adv['skipped'])}</p>"
    rec = adv.get("recommendation") or {}
    rows = []
    for d in adv.get("defences") or []:
        if d.get("error"):
            rows.append(f"<tr><td>{_e(d['defence'])}</td><td colspan=6 class=small>not measured: {_e(d['error'])}</td></tr>")
            continue
        leak = d["leakage"]["non_adaptive"]
        worst = d.get("leakage_for_decision")
        mark = " <b>recommended</b>" if d.get("recommended") else ""
        cost = d.get("ndcg_cost")
        sens = d.get("sensitive_recovered")
        rows.append(f"<tr><td>{_e(d['defence'])}{mark}<div class=small>{_e(d.get('description', ''))}</div></td>"
                    f"<td class=num>{d['ndcg_at_10']:.3f}" + (f" <span class=small>(−{cost:.3f})</span>" if cost else "")
                    + f"</td><td class=num>{d['recall_at_10']:.3f}</td><td class=num>{leak['bleu']:.1f}</td>"
                    f"<td class=num>{leak['token_f1']:.1f}</td>"
                    f"<td class=num>{'' if sens is None else f'{sens[0]} of {sens[1]}'}</td>"
                    f"<td class=num>{'' if worst is None else f'{worst:.1f}'}<div class=small>{_e(d.get('attacker', ''))}</div></td></tr>")
    table = ("<table><thead><tr><th>defence</th><th>NDCG@10 (cost)</th><th>recall@10</th><th>BLEU</th><th>token F1</th>"
             "<th>sensitive items recovered</th><th>BLEU, strongest attacker run</th></tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>")
    return (f"<h2>What to do about it</h2><p><b>{_e(rec.get('text', ''))}</b></p><p class=small>{_e(adv.get('how', ''))}</p>"
            + table)


def names_sentence(s: dict) -> str:
    """One sentence on the name-list attack ('' with ``--names none``): the verdict and the CLI say it."""
    nl, lst = s.get("name_list"), (s.get("settings") or {}).get("names") or {}
    if not nl:
        return ""
    m = nl["records_naming_a_listed_name"]
    what = (f"the built-in list of {lst.get('names', '?'):,} common given names" if lst.get("file") == "builtin"
            else f"a list of {lst.get('names', '?'):,} names")
    if not m:
        return (f"With {what}, the attacker ranks the names for every vector; no audited original names a listed "
                f"person, so how often the top name is right is not measured.")
    return (f"With {what} and no inverter at all, the attacker ranks the right name first in {nl['right_first']} "
            f"of the {m} records that name a listed person ({100 * nl['rate_first']:.0f}%; a blind guess: "
            f"{100 * nl['chance_first']:.1f}%).")


def names_html(s: dict, named: list[dict] | None) -> str:
    """The name-list attack: its figure, and the most confident guesses (largest margin first)."""
    nl = s.get("name_list")
    if not nl:
        return ""
    lst = (s.get("settings") or {}).get("names") or {}
    iv = (_figures(s).get("name_list_first") or {})
    ci = (f" 95% interval {iv['low']:.0f}–{iv['high']:.0f}%." if iv.get("low") is not None else "")
    rows = []
    for r in named or []:
        g = r["names"]
        right = "" if g.get("rank") is None else ("yes" if g["rank"] == 1 else f"no (rank {g['rank']})")
        orig = "<span class=miss>(not stored)</span>" if r.get("original") is None else _e(r["original"])
        rows.append(f"<tr><td class=id>{_e(r['id'])}</td><td>{orig}</td><td><b>{_e(g['guesses'][0][0])}</b>"
                    f"<div class=small>then {_e(', '.join(n for n, _ in g['guesses'][1:]))}</div></td>"
                    f"<td class=num>{g['guesses'][0][1]:.3f}</td><td class=num>{g['margin']:.3f}</td><td>{right}</td></tr>")
    table = ("<table><thead><tr><th>id</th><th>original</th><th>top name</th><th>cosine</th><th>margin over the "
             "second</th><th>right?</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>") if rows else ""
    return (f"<h2>Whom the vectors name</h2><p>{_e(names_sentence(s))}{_e(ci)}</p>"
            f"<p class=small>The attacker embeds each of the {lst.get('names', '?'):,} names of <code>{_e(lst.get('file'))}"
            "</code> (<code>--names</code>) once and ranks them by cosine to each stored vector; the recovered text plays no part. A record "
            "counts when its original contains a listed name (its words in order, after the embedder's normalisation). "
            "Guesses with the largest margin first.</p>" + table)
