"""Self-contained HTML reports: inline CSS, plots as base64 PNG data URIs, no script, no request.

:func:`render_audit` turns an audit's summary and records into one page that a security lead can read
at a glance: the verdict in one sentence, headline numbers, plots, the embedder check and store facts,
and a table of original vs recovered text with the recovered words highlighted. A Content-Security-
Policy of ``default-src 'none'`` makes the browser refuse any request the page could make.
"""
from __future__ import annotations

import difflib
import re
from datetime import datetime, timezone

import numpy as np

from ..html import CSS, e as _e, figure as _figure, num as _num, pct as _pct, png as _png
from .report_sections import names_sentence

TABLE_ROWS = 200
KIND_LABELS = {"email": "e-mail addresses", "phone": "phone numbers", "date": "dates", "number": "numbers",
               "name": "personal names"}


def _hist(values, title, xlabel, lo, hi, color, note=None) -> str:
    fig, ax = _figure(title)
    values = np.asarray([v for v in values if v is not None], dtype=float)
    if len(values):
        ax.hist(np.clip(values, lo, hi), bins=20, range=(lo, hi), color=color, edgecolor="white")
        ax.axvline(values.mean(), color="#1d2330", linestyle="--", linewidth=1)
        ax.text(values.mean(), ax.get_ylim()[1] * 0.95, f" mean {values.mean():.2f}", fontsize=9, va="top")
    else:
        ax.text(0.5, 0.5, note or "nothing to show", ha="center", va="center", transform=ax.transAxes, color="#5a6275")
    ax.set_xlim(lo, hi)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("records")
    return _png(fig)


LENGTH_BINS = [(1, 5), (6, 10), (11, 15), (16, 20), (21, 30), (31, 10**9)]


def _by_length(records) -> str:
    scored = [r for r in records if r.get("original") is not None and "bleu" in r]
    if scored:
        fig, ax = _figure("Recovery by text length (original words)")
        labels, f1, bl, ns = [], [], [], []
        for lo, hi in LENGTH_BINS:
            group = [r for r in scored if lo <= r.get("words", 0) <= hi]
            if group:
                labels.append(f"{lo}-{hi}" if hi < 10**9 else f"{lo}+")
                f1.append(np.mean([r["token_f1"] for r in group]))
                bl.append(np.mean([r["bleu"] for r in group]))
                ns.append(len(group))
        x = np.arange(len(labels))
        ax.bar(x - 0.2, f1, 0.4, label="token F1", color="#c62828")
        ax.bar(x + 0.2, bl, 0.4, label="BLEU", color="#ef9a9a")
        for xi, n in zip(x, ns):
            ax.text(xi, 101, f"n={n}", ha="center", fontsize=8, color="#5a6275")
        ax.set_xticks(x, labels)
        ax.set_ylim(0, 108)
        ax.set_xlabel("words in the original")
        ax.set_ylabel("score (0-100)")
        ax.legend(frameon=False, fontsize=9, loc="upper right", bbox_to_anchor=(1, 0.93))
        return _png(fig)
    fig, ax = _figure("Attacker confidence by recovered length (no originals stored)")
    words = np.array([len(r["text"].split()) for r in records]) if records else np.array([])
    cos = np.array([r["cosine"] for r in records]) if records else np.array([])
    if len(words):
        ax.scatter(words, cos, s=10, alpha=0.5, color="#c62828")
        ax.set_xlabel("words in the recovered text")
        ax.set_ylabel("cosine")
    else:
        ax.text(0.5, 0.5, "no records", ha="center", va="center", transform=ax.transAxes, color="#5a6275")
    return _png(fig)


def _sensitive_plot(sensitive: dict) -> str:
    fig, ax = _figure("Sensitive items in the originals, and how many were recovered exactly")
    kinds = [k for k in KIND_LABELS if sensitive.get(k)]
    found = [sensitive[k]["found"] for k in kinds]
    got = [sensitive[k]["recovered"] for k in kinds]
    y = np.arange(len(kinds))
    if sum(found):
        ax.barh(y, found, color="#d5d9e2", label="found in originals")
        ax.barh(y, got, color="#c62828", label="recovered exactly")
        for yi, f, g in zip(y, found, got):
            ax.text(f, yi, f"  {g}/{f}", va="center", fontsize=9)
        ax.set_yticks(y, [KIND_LABELS[k] for k in kinds])
        ax.invert_yaxis()
        ax.set_xlim(0, max(found) * 1.2)
        ax.legend(frameon=False, fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    else:
        ax.text(0.5, 0.5, "no originals stored, or no sensitive items found in them", ha="center", va="center",
                transform=ax.transAxes, color="#5a6275")
        ax.set_yticks([])
    return _png(fig)


# --------------------------------------------------------------------------------------------------
# Original vs recovered
# --------------------------------------------------------------------------------------------------

_WORD = re.compile(r"\S+")


def _key(word: str, normalize) -> str:
    return re.sub(r"[^\w]", "", normalize(word).lower())


def _diff_html(original: str, recovered: str, items: list[dict], normalize) -> tuple[str, str]:
    """Both texts as HTML: words the attacker recovered highlighted, sensitive items underlined."""
    ow = list(_WORD.finditer(original))
    rw = list(_WORD.finditer(recovered))
    okeys = [_key(m.group(0), normalize) for m in ow]
    rkeys = [_key(m.group(0), normalize) for m in rw]
    ohit, rhit = [False] * len(ow), [False] * len(rw)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=okeys, b=rkeys, autojunk=False).get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                ohit[i1 + k] = rhit[j1 + k] = bool(okeys[i1 + k])
    # sensitive item spans in the original (first occurrence of each item's text)
    spans = []
    pos = 0
    for it in items:
        start = original.find(it["text"], pos if pos < len(original) else 0)
        if start < 0:
            start = original.find(it["text"])
        if start >= 0:
            spans.append((start, start + len(it["text"]), it))
    owner = [next((k for k, (s_, e_, _) in enumerate(spans) if s_ < m.end() and m.start() < e_), None) for m in ow]
    last_word = {k: i for i, k in enumerate(owner) if k is not None}  # where each item's tag goes
    out_o = []
    for i, (m, hit) in enumerate(zip(ow, ohit)):
        cls = ["hit"] if hit else []
        k = owner[i]
        it = spans[k][2] if k is not None else None
        if it is not None:
            cls.append("pii got" if it["recovered"] else "pii")
        word = f'<span class="{" ".join(cls)}">{_e(m.group(0))}</span>' if cls else _e(m.group(0))
        if it is not None and last_word[k] == i:
            word += f'<span class="tag{" got" if it["recovered"] else ""}">{_e(it["kind"])}</span>'
        out_o.append(word)
    out_r = [f'<span class="hit">{_e(m.group(0))}</span>' if hit else f'<span class="miss">{_e(m.group(0))}</span>'
             for m, hit in zip(rw, rhit)]
    return " ".join(out_o), " ".join(out_r)


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------


def _verdict(s: dict) -> tuple[str, bool]:
    n = s.get("n", 0)
    if s.get("status") == "refused":
        return ("The audit was refused: the stored vectors do not fit this inverter's embedder (see the embedder "
                "check below), so no text was recovered. Audit it with an inverter trained for the embedder that "
                "wrote the store.", False)
    if not n:
        return "No records were audited.", False
    caveat = (" A low score measures this inverter, not the store's safety: a better-trained inverter recovers more.")
    if s.get("n_with_original"):
        sens = s.get("sensitive", {})
        parts = [f"{sens[k]['recovered']} of {sens[k]['found']} {KIND_LABELS[k]}" for k in KIND_LABELS
                 if sens.get(k, {}).get("found")]
        text = (f"An attacker who copies this store recovers on average <b>{s['token_f1']:.0f}%</b> of each text's "
                f"words (token F1), <b>{s['exact_match']:.0f}%</b> of the texts exactly")
        text += (", and " + ", ".join(parts) + " exactly.") if parts else "."
        low = ((s["token_f1"] or 0) < 20 and not any(sens.get(k, {}).get("recovered") for k in KIND_LABELS)
               and not (s.get("name_list") or {}).get("right_first"))
        named = _e(names_sentence(s))
        return text + (f" {named}" if named else "") + (f'<br><span class="small">{caveat}</span>' if low else ""), low
    share = s.get("share_cosine_ge_0_9") or 0
    named = _e(names_sentence(s))
    return (f"The store holds no original texts, so recovery cannot be scored here. The attacker's own confidence: "
            f"<b>{_pct(share)}</b> of the {n} recovered texts re-embed within cosine 0.9 of the stored vector "
            f"(mean cosine {s['cosine']:.2f}); the table lists the most confident first."
            + (f" {named}" if named else "") + (f'<br><span class="small">{caveat}</span>' if share < 0.05 else ""), share < 0.05)


def render_audit(summary: dict, records: list[dict], rows: int = TABLE_ROWS, normalize=None,
                 plot_records: list[dict] | None = None, named: list[dict] | None = None) -> str:
    """The audit report as one HTML string (no external resources).

    ``records``: those the table may show (the audit passes the most confident ones);
    ``plot_records``: those the plots are drawn from (the audit passes a uniform sample of at most a
    few thousand); both default to ``records``. ``named``: the name-list attack's most confident
    guesses (with ``--names``)."""
    from . import report_sections as sections

    s = summary
    n_total = s.get("n", len(records))
    plot_recs = records if plot_records is None else plot_records
    norm = normalize or (lambda t: t)
    store = s.get("store") or {}
    check = s.get("embedder_check") or {}
    verdict, low = _verdict(s)
    banners = []
    if store.get("lossy"):
        banners.append(("warn", "LOSSY STORE: the store keeps compressed approximations of the vectors (e.g. FAISS "
                                "PQ/SQ codes). Recovered text reflects that loss; the original embeddings, if kept "
                                "elsewhere, would leak more."))
    status = check.get("status")
    if status == "mismatch":
        banners.append(("bad", f"EMBEDDER CHECK FAILED{' (inverted anyway, --force)' if check.get('forced') else ''}: "
                               + check.get("message", "")))
    elif status == "approximate":
        banners.append(("warn", "EMBEDDER CHECK: " + check.get("message", "")))
    elif status in ("match", "plausible"):
        banners.append(("ok", "EMBEDDER CHECK: " + check.get("message", "")))
    if s.get("status") == "running":
        banners.append(("warn", "This audit has not finished: the numbers cover the records written so far."))

    sens = s.get("sensitive") or {}
    total_found = sum(v.get("found", 0) for v in sens.values())
    total_got = sum(v.get("recovered", 0) for v in sens.values())
    ci = sections.card_interval
    cards = [
        ("records audited", f"{s.get('n', 0):,}", f"of {store.get('count', 0):,} in the store"),
        ("mean cosine", _num(s.get("cosine"), "{:.3f}"), "recovered text vs stored vector" + ci(s, "cosine", "{:.3f}")),
        ("BLEU", _num(s.get("bleu")), "0-100, vs the stored originals" + ci(s, "bleu")),
        ("token F1", _num(s.get("token_f1")), "share of words recovered" + ci(s, "token_f1")),
        ("exact match", _num(s.get("exact_match"), "{:.1f}%"), "texts recovered verbatim" + ci(s, "exact_match")),
        ("sensitive items", f"{total_got}/{total_found}" if total_found else "n/a", "recovered exactly / found"),
    ]
    cosines = [r["cosine"] for r in plot_recs]
    bleus = [r.get("bleu") for r in plot_recs if r.get("original") is not None]
    plots = [] if not plot_recs else [
        _hist(cosines, "Cosine of recovered text to the stored vector", "cosine", min(0.0, min(cosines, default=0)), 1.0,
              "#5c6bc0"),
        _hist(bleus, "BLEU of recovered vs original text", "BLEU", 0, 100, "#c62828",
              note="no originals stored: BLEU cannot be computed"),
        _by_length(plot_recs),
        _sensitive_plot(sens),
    ]

    # table: most confident first
    ordered = sorted(records, key=lambda r: -r["cosine"])[:rows]
    has_orig = any(r.get("original") is not None for r in records)
    trs = []
    for rank, r in enumerate(ordered, 1):
        if r.get("original") is not None:
            o, rec = _diff_html(r["original"], r["text"], r.get("sensitive", []), norm)
            trs.append(f"<tr><td class=num>{rank}</td><td class=id>{_e(r['id'])}</td><td>{o}</td><td>{rec}</td>"
                       f"<td class=num>{r['cosine']:.3f}</td><td class=num>{r.get('bleu', 0):.1f}</td>"
                       f"<td class=num>{r.get('token_f1', 0):.0f}</td></tr>")
        else:
            leaks = ", ".join(f"{_e(p['kind'])}: {_e(p['text'])}" for p in r.get("leaked_patterns") or [])
            orig = "<span class=miss>(not stored)</span>" if has_orig else _e(leaks)
            trs.append(f"<tr><td class=num>{rank}</td><td class=id>{_e(r['id'])}</td><td>{orig}</td><td>{_e(r['text'])}</td>"
                       f"<td class=num>{r['cosine']:.3f}</td><td class=num>-</td><td class=num>-</td></tr>")
    third = "original (stored document)" if has_orig else "patterns in the recovered text"
    table = (f"<table><thead><tr><th>#</th><th>id</th><th>{third}</th><th>recovered from the vector</th><th>cosine</th>"
             f"<th>BLEU</th><th>token F1</th></tr></thead><tbody>{''.join(trs)}</tbody></table>")
    shown = (f"Showing the {len(ordered)} most confident of {n_total} records (by cosine); all are in "
             f"results.jsonl." if n_total > len(ordered) else f"All {n_total} records, most confident first.")
    if plot_records is not None and len(plot_recs) < n_total:
        shown += f" The plots are drawn from a uniform sample of {len(plot_recs)} of them."

    sens_rows = "".join(
        f"<tr><td>{_e(KIND_LABELS[k])}</td><td class=num>{v['found']}</td><td class=num>{v['recovered']}</td>"
        f"<td class=num>{_pct(v['rate'])}</td><td class=small>{_e((s.get('sensitive_detection') or {}).get(k, ''))}</td></tr>"
        for k, v in sens.items() if k in KIND_LABELS)

    def dl(pairs):
        return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"

    norms = check.get("norms") or {}
    reembed = check.get("reembed") or {}
    probe = check.get("probe") or {}
    check_pairs = [("status", f"<b>{_e(status or 'not run')}</b>"), ("finding", _e(check.get("message", "")))]
    if check.get("dim"):
        check_pairs.append(("dimension", _e(f"store {check['dim']['store']}, inverter {check['dim']['inverter']}")))
    if norms:
        check_pairs.append(("vector norms", _e(f"mean {norms.get('mean'):.4f}, std {norms.get('std'):.4f}, "
                                               f"min {norms.get('min'):.4f}, max {norms.get('max'):.4f}; "
                                               f"expected {norms.get('expected')}")))
    if reembed:
        check_pairs.append(("re-embedded documents", _e(f"{reembed['n']} sampled: median cosine {reembed['median']:.4f}, "
                                                        f"min {reembed['min']:.4f}, {_pct(reembed['share_ge_0_99'])} >= 0.99")))
    if probe:
        check_pairs.append(("inverter probe", _e(f"{probe['n']} sampled: median cosine {probe['median_cosine']:.3f} "
                                                 f"vs {probe['random_median_cosine']:.3f} for random vectors")))
    for note in check.get("notes") or []:
        check_pairs.append(("note", _e(note)))
    store_pairs = [("URI", _e(store.get("uri"))), ("kind", _e(store.get("kind"))),
                   ("vectors in store", _e(store.get("count"))), ("lossy", "yes" if store.get("lossy") else "no")]
    store_pairs += [("note", _e(n)) for n in store.get("notes") or []]
    settings = s.get("settings") or {}
    thr = s.get("throughput") or {}
    method_pairs = [("inverter", _e((s.get("inverter") or {}).get("model_id"))),
                    ("embedder", _e(settings.get("embedder"))),
                    ("steps / beam", _e(f"{settings.get('steps')} / {settings.get('beam')}")),
                    ("selection", _e(f"limit {settings.get('limit')}, sample {settings.get('sample')}, seed {settings.get('seed')}")),
                    ("text normalisation", _e(s.get("normalization"))),
                    ("BLEU", _e((s.get("metrics_signature") or {}).get("bleu"))),
                    ("token F1", _e((s.get("metrics_signature") or {}).get("token_f1"))),
                    ("sensitive item recovered", _e((s.get("sensitive_detection") or {}).get("recovered"))),
                    ("signature", f"<code>{_e((s.get('signature') or {}).get('string'))}</code>")]
    if thr.get("records"):
        method_pairs.append(("throughput", _e(f"{thr['records']} records in {thr['seconds']:.1f} s "
                                              f"({thr['records_per_second']:.2f} records/s) in this run")))
    body = "" if not records else f"""<h2>Distributions</h2>
<div class="plots">{''.join(f'<figure><img alt="plot" src="{p}"></figure>' for p in plots)}</div>
<h2>Sensitive items</h2>
<table><thead><tr><th>kind</th><th>found in originals</th><th>recovered exactly</th><th>share</th><th>how it is detected</th></tr></thead>
<tbody>{sens_rows}</tbody></table>
<h2>Original vs recovered</h2>
<p class="legend small"><span><span class="hit">highlighted</span> words the attacker recovered</span>
<span><span class="miss">grey</span> recovered words not in the original</span>
<span><span class="pii got">underlined red</span> sensitive item recovered</span><span><span class="pii">dashed</span> sensitive item missed</span></p>
<p class="small">{_e(shown)}</p>
{table}
"""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>unembed audit: {_e(store.get('uri'))}</title><style>{CSS}</style></head>
<body><main>
<h1>Vector store leakage audit</h1>
<div class="sub">{_e(store.get('uri'))} &middot; {_e(store.get('kind'))} &middot; {when} &middot; status {_e(s.get('status'))}</div>
<div class="verdict{' low' if low else ''}">{verdict}</div>
{''.join(f'<div class="banner {c}">{_e(t)}</div>' for c, t in banners)}
<div class="cards">{''.join(f'<div class="card"><div class="v">{v}</div><div class="k">{_e(k)}<br>{_e(h)}</div></div>' for k, v, h in cards)}</div>
{sections.intervals_html(s)}
{body}{sections.names_html(s, named)}{sections.adapted_html(s)}<h2>Embedder check</h2>
{dl(check_pairs)}
<h2>Store</h2>
{dl(store_pairs)}
<h2>Method</h2>
{dl(method_pairs)}
{sections.advice_html(s)}
</main></body></html>
"""


__all__ = ["render_audit"]
