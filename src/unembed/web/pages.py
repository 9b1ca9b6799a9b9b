"""The server-rendered pages: every value from a user, a store or an inverter goes through
:func:`unembed.html.e`; the live parts are filled in by ``static/app.js`` with ``textContent`` only.
No inline script or style (the CSP is ``default-src 'self'``)."""
from __future__ import annotations

from ..html import e
from .runs import Run

__all__ = ["layout", "try_page", "runs_page", "message_page", "EXAMPLE"]

EXAMPLE = "John Smith was admitted to the hospital on 12 March 2023 with chest pain."


def layout(title: str, body: str, page: str) -> str:
    nav = "".join(f'<a href="{href}"{" class=here" if key == page else ""}>{label}</a>'
                  for key, href, label in (("try", "/", "Try it"), ("runs", "/runs", "Audits and runs")))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)} · unembed</title><link rel=\"stylesheet\" href=\"/static/style.css\">"
            "<link rel=\"icon\" href=\"/static/icon.svg\" type=\"image/svg+xml\">"
            "<script src=\"/static/app.js\" defer></script></head>"
            f"<body data-page=\"{e(page)}\"><header><span class=\"brand\">unembed</span><nav>{nav}</nav></header>"
            f"<main>{body}</main></body></html>\n")


def _number(name: str, label: str, value, lo, hi, title: str = "") -> str:
    return (f'<label title="{e(title)}">{e(label)} <input type="number" name="{e(name)}" value="{e(value)}" '
            f'min="{e(lo)}" max="{e(hi)}"></label>')


def _inverter_select(names: list[str]) -> str:
    options = "".join(f'<option value="{e(n)}">{e(n)}</option>' for n in names)
    return f'<label>inverter <select name="inverter">{options}</select></label>'


def try_page(inverters: list[str], limits: dict) -> str:
    mb = limits["max_upload"] / 1e6
    body = f"""
<h1>Watch a sentence come back out of its vector</h1>
<p class="sub">Type a sentence: it is embedded, and the inverter walks its vector back to text, one correction
step at a time. Or upload vectors (.npy, .npz or .jsonl with a <code>vector</code> field and optionally a
<code>text</code> one, at most {mb:g} MB) to see what an attacker who copied them would read.</p>
<form id="try-form" class="panel">
  <label class="wide">text <textarea name="text" rows="2" maxlength="{limits['max_text']}">{e(EXAMPLE)}</textarea></label>
  <div class="row">
    <label>or vectors <input type="file" name="file" accept=".npy,.npz,.jsonl"></label>
    {_number("row", "row", 0, 0, 10**9, "which row of the uploaded file to invert")}
    {_number("steps", "steps", limits['steps'], 0, limits['max_steps'], "correction steps")}
    {_number("beam", "beam", limits['beam'], 1, limits['max_beam'], "sequence beam width")}
    {_inverter_select(inverters)}
    <button type="submit" id="invert">Invert</button>
    <button type="button" id="cancel-invert" disabled>Cancel</button>
  </div>
</form>
<p id="status" class="status" role="status"></p>
<section id="vector" class="panel" hidden>
  <h2>The vector</h2>
  <div id="strip" class="strip"></div>
  <dl class="facts"><dt>dimension</dt><dd id="v-dim"></dd><dt>norm</dt><dd id="v-norm"></dd>
  <dt>embedder</dt><dd id="v-embedder"></dd></dl>
</section>
<section id="live" class="panel" hidden>
  <h2>Coming back, step by step</h2>
  <div class="cols">
    <div>
      <div class="best"><span class="label">best so far</span> <span id="best-cos" class="cos"></span>
        <div id="best-text" class="text"></div></div>
      <div id="diff-box" hidden><span class="label">against the original</span>
        <div id="diff" class="text diff"></div>
        <div class="legend"><span class="same">recovered</span> <span class="wrong">wrong</span>
        <span class="missing">missing</span></div></div>
      <h3>steps</h3><ol id="steps" class="steps" start="0"></ol>
    </div>
    <div>
      <h3>the beam's candidates</h3><ol id="candidates" class="candidates"></ol>
      <h3>cosine by step</h3><div id="curve" class="curve"></div>
    </div>
  </div>
</section>
"""
    return layout("Try it", body, "try")


def _run_row(run: Run) -> str:
    figures = "".join(f'<span class="fig"><span class="k">{e(k)}</span> {e(v)}</span>' for k, v in run.figures)
    link = (f'<a class="open" href="/runs/{e(run.report)}">open report</a>' if run.report else
            '<span class="miss">no report yet</span>')
    resume = ""
    if run.kind == "audit" and run.status in ("running", "interrupted"):
        s = run.settings
        attrs = " ".join(f'data-{k}="{e("" if s.get(k) is None else s.get(k))}"'
                         for k in ("store", "steps", "beam", "limit", "sample", "seed"))
        resume = f' <button type="button" class="resume" data-out="{e(run.path)}" {attrs}>resume</button>'
    status = "interrupted" if run.status == "running" else run.status
    return (f'<tr data-kind="{e(run.kind)}"><td><span class="tag {e(run.kind)}">{e(run.kind)}</span></td>'
            f'<td class="path">{e(run.path)}</td><td>{e(run.title)}</td><td class="status-{e(status)}">{e(status)}</td>'
            f'<td>{figures}</td><td>{link}{resume}</td></tr>')


def runs_page(runs: list[Run], folder: str, inverters: list[str], limits: dict, running_outs: set[str]) -> str:
    for run in runs:
        if run.path in running_outs and run.status == "running":
            run.status = "auditing now"
    rows = "".join(_run_row(r) for r in runs) or '<tr><td colspan="6" class="miss">no runs in this folder yet</td></tr>'
    body = f"""
<h1>Audits, defence runs and glitch audits</h1>
<p class="sub">Runs under <code>{e(folder)}</code> (every folder holding a summary.json or results.json).</p>
<table id="runs"><thead><tr><th>kind</th><th>folder</th><th>what</th><th>status</th><th>headline figures</th><th></th></tr>
</thead><tbody>{rows}</tbody></table>
<h2>Audit a vector store</h2>
<form id="audit-form" class="panel">
  <label class="wide">store URI <input type="text" name="store" required placeholder="faiss:///path/index.faiss?texts=docs.jsonl"
   autocomplete="off" spellcheck="false"></label>
  <div class="row">
    <label>output folder (inside the served folder) <input type="text" name="out" value="audit" required></label>
    {_number("steps", "steps", limits['steps'], 0, limits['max_steps'])}
    {_number("beam", "beam", limits['beam'], 1, limits['max_beam'])}
    <label>limit <input type="number" name="limit" min="1" placeholder="all"></label>
    <label>sample <input type="number" name="sample" min="1" placeholder="none"></label>
    {_number("seed", "seed", 0, 0, 2**31 - 1)}
    {_inverter_select(inverters)}
    <label class="check"><input type="checkbox" name="resume"> resume (skip records already audited)</label>
    <button type="submit" id="start-audit">Start audit</button>
  </div>
</form>
<h2>Audit a vocabulary for glitch tokens</h2>
<form id="glitch-form" class="panel">
  <div class="row">
    <label>model <input type="text" name="model" value="minilm" required spellcheck="false"
     title="minilm, or a local Hugging Face encoder or causal-LM folder"></label>
    <label>output folder (inside the served folder) <input type="text" name="out" value="glitch" required></label>
    {_number("clusters", "clusters", 20, 1, 1000)}
    {_number("control", "control tokens", 200, 1, 100000)}
    {_number("known_unused_sample", "known-unused sample", 200, 0, 100000)}
    <label>top <input type="text" name="top" value="0.02" size="5"></label>
    <button type="submit" id="start-glitch">Start glitch audit</button>
  </div>
</form>
<section id="audit-live" class="panel" hidden>
  <h2>Audit <span id="audit-name"></span></h2>
  <progress id="audit-progress" max="1" value="0"></progress> <span id="audit-count"></span>
  <button type="button" id="cancel-audit">Cancel</button>
  <p id="audit-status" class="status" role="status"></p>
  <div id="audit-figures" class="figs"></div>
  <p id="audit-report"></p>
</section>
"""
    return layout("Audits and runs", body, "runs")


def message_page(title: str, message: str) -> str:
    return layout(title, f"<h1>{e(title)}</h1><p>{e(message)}</p>", "message")
