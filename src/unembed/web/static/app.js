// unembed serve: the live parts of the pages. Texts from the server are only ever set with
// textContent (never as HTML), so a recovered "<script>" stays text.
"use strict";
const SVG = "http://www.w3.org/2000/svg";

function $(id) { return document.getElementById(id); }
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}
function setStatus(node, text, kind) { node.textContent = text; node.className = "status" + (kind ? " " + kind : ""); }
function fmt(x, digits) { return (x === null || x === undefined) ? "n/a" : Number(x).toFixed(digits); }

async function post(url, body, headers) {
  const res = await fetch(url, { method: "POST", body, headers, credentials: "same-origin" });
  let data = {};
  try { data = await res.json(); } catch (e) { data = { message: res.statusText }; }
  return { res, data };
}

// ---- the vector strip plot and the cosine curve ---------------------------------------------------
function stripPlot(box, v) {
  box.replaceChildren();
  const n = v.values.length, w = 1000, h = 90, mid = h / 2;
  const lim = Math.max(Math.abs(v.min), Math.abs(v.max), 1e-9);
  const s = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": `the ${v.dim} values of the vector` });
  s.appendChild(svg("rect", { x: 0, y: 0, width: w, height: h, fill: "#fbfcfe" }));
  const bw = w / n;
  v.values.forEach((x, i) => {
    const y = (x / lim) * (mid - 4);
    s.appendChild(svg("rect", { x: (i * bw).toFixed(2), y: (y > 0 ? mid - y : mid).toFixed(2),
      width: Math.max(bw - 0.3, 0.6).toFixed(2), height: Math.max(Math.abs(y), 0.5).toFixed(2),
      fill: x > 0 ? "#2f4b8a" : "#c62828" }));
  });
  s.appendChild(svg("line", { x1: 0, x2: w, y1: mid, y2: mid, stroke: "#9aa3b5", "stroke-width": 0.5 }));
  box.appendChild(s);
}

function curve(box, points) {
  box.replaceChildren();
  const w = 480, h = 200, l = 44, r = 12, t = 10, b = 28;
  const lo = Math.min(0.5, ...points.map(p => p[1])), hi = 1.0;
  const maxStep = Math.max(1, ...points.map(p => p[0]));
  const X = s => l + (w - l - r) * s / maxStep, Y = c => t + (h - t - b) * (hi - c) / Math.max(hi - lo, 1e-6);
  const s = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": "cosine by step" });
  for (const c of [lo, (lo + hi) / 2, hi]) {
    s.appendChild(svg("line", { x1: l, x2: w - r, y1: Y(c), y2: Y(c), stroke: "#e3e6ed" }));
    const lab = svg("text", { x: l - 6, y: Y(c) + 4, "text-anchor": "end", "font-size": 11, fill: "#5a6275" });
    lab.textContent = c.toFixed(2); s.appendChild(lab);
  }
  const xl = svg("text", { x: (l + w - r) / 2, y: h - 6, "text-anchor": "middle", "font-size": 11, fill: "#5a6275" });
  xl.textContent = "step"; s.appendChild(xl);
  for (const st of [0, maxStep]) {
    const tick = svg("text", { x: X(st), y: h - 14, "text-anchor": "middle", "font-size": 11, fill: "#5a6275" });
    tick.textContent = String(st); s.appendChild(tick);
  }
  s.appendChild(svg("polyline", { points: points.map(p => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" "),
    fill: "none", stroke: "#2f4b8a", "stroke-width": 2 }));
  for (const p of points) s.appendChild(svg("circle", { cx: X(p[0]), cy: Y(p[1]), r: 3, fill: "#2f4b8a" }));
  box.appendChild(s);
}

function diffInto(box, diff) {
  box.replaceChildren();
  for (const [op, word] of diff) box.appendChild(el("span", op, word));
}

function listInto(box, items) {
  box.replaceChildren();
  for (const [text, cos] of items) {
    const li = el("li"); li.appendChild(el("span", "c", fmt(cos, 3))); li.appendChild(el("span", "t", text)); box.appendChild(li);
  }
}

// ---- the try-it page -----------------------------------------------------------------------------
function tryPage() {
  const form = $("try-form"), status = $("status"), cancel = $("cancel-invert");
  let source = null, job = null;
  cancel.addEventListener("click", async () => { if (job) await post(`/api/jobs/${job}/cancel`); });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (source) source.close();
    const f = new FormData(form), file = form.elements.file.files[0];
    const opts = { steps: f.get("steps"), beam: f.get("beam"), inverter: f.get("inverter") };
    let answer;
    if (file) {
      const q = new URLSearchParams({ ...opts, filename: file.name, row: f.get("row") || "0" });
      answer = await post(`/api/invert?${q}`, file, { "Content-Type": "application/octet-stream" });
    } else {
      answer = await post("/api/invert", JSON.stringify({ ...opts, text: f.get("text") }), { "Content-Type": "application/json" });
    }
    const { res, data } = answer;
    if (res.status === 503) {
      setStatus(status, `${data.message} (retry after ${res.headers.get("Retry-After")} s)`, "busy"); return;
    }
    if (!res.ok) { setStatus(status, data.message || res.statusText, "bad"); return; }
    job = data.job; cancel.disabled = false; $("invert").disabled = true;
    $("live").hidden = false; $("steps").replaceChildren(); $("candidates").replaceChildren();
    $("best-text").textContent = ""; $("best-cos").textContent = ""; $("diff-box").hidden = true; $("curve").replaceChildren();
    setStatus(status, data.position > 0 ? `queued: position ${data.position}` : "starting...");
    const points = [];
    const finish = () => { source.close(); cancel.disabled = true; $("invert").disabled = false; };
    source = new EventSource(data.events);
    source.addEventListener("queued", e => {
      const d = JSON.parse(e.data);
      setStatus(status, d.position > 0 ? `queued: position ${d.position} (one inversion runs at a time)` : "starting...", d.position > 0 ? "busy" : "");
    });
    source.addEventListener("loaded", e => setStatus(status, `inverting with ${JSON.parse(e.data).inverter}...`));
    source.addEventListener("vector", e => {
      const v = JSON.parse(e.data);
      $("vector").hidden = false; stripPlot($("strip"), v);
      $("v-dim").textContent = v.dim; $("v-norm").textContent = fmt(v.norm, 4); $("v-embedder").textContent = v.source;
    });
    source.addEventListener("step", e => {
      const d = JSON.parse(e.data);
      points.push([d.step, d.cosine]);
      const li = el("li"); li.value = d.step; li.appendChild(el("span", "c", fmt(d.cosine, 3))); li.appendChild(el("span", "t", d.text));
      $("steps").appendChild(li);
      $("best-text").textContent = d.text; $("best-cos").textContent = `cosine ${fmt(d.cosine, 3)} · step ${d.step}`;
      listInto($("candidates"), d.candidates);
      if (d.diff) { $("diff-box").hidden = false; diffInto($("diff"), d.diff); }
      curve($("curve"), points);
      setStatus(status, `step ${d.step} of ${form.elements.steps.value}`);
    });
    source.addEventListener("done", e => {
      const d = JSON.parse(e.data);
      $("best-text").textContent = d.text; $("best-cos").textContent = `cosine ${fmt(d.cosine, 3)} · final`;
      listInto($("candidates"), d.candidates);
      if (d.diff) { $("diff-box").hidden = false; diffInto($("diff"), d.diff); }
      const li = el("li", "final"); li.id = "final"; li.appendChild(el("span", "label", "final ")); li.appendChild(el("span", "c", fmt(d.cosine, 3))); li.appendChild(el("span", "t", d.text));
      $("steps").appendChild(li);
      setStatus(status, `done in ${fmt(d.seconds, 1)} s: ${d.steps} steps (stopped: ${d.stopped})`);
      document.body.dataset.done = "1"; finish();
    });
    for (const kind of ["error", "cancelled"]) {
      source.addEventListener(kind, e => {
        if (!e.data) return;  // a dropped connection, not the job's own event
        setStatus(status, JSON.parse(e.data).message, kind === "error" ? "bad" : ""); finish();
      });
    }
  });
}

// ---- the runs page -------------------------------------------------------------------------------
function figureCards(box, f) {
  box.replaceChildren();
  if (!f) return;
  const cards = [["records", f.records, 0], ["mean cosine", f.cosine, 3], ["BLEU", f.bleu, 1], ["token F1", f.token_f1, 1], ["exact %", f.exact_match, 1]];
  for (const [k, v, d] of cards) {
    if (v === null || v === undefined) continue;
    const c = el("div"); c.appendChild(el("div", "v", d ? fmt(v, d) : String(v))); c.appendChild(el("div", "k", k)); box.appendChild(c);
  }
}

function runsPage() {
  const form = $("audit-form"), status = $("audit-status");
  let job = null, source = null;
  $("cancel-audit").addEventListener("click", async () => { if (job) { await post(`/api/jobs/${job}/cancel`); setStatus(status, "cancelling after this chunk..."); } });
  async function start(settings, url) {
    $("audit-live").hidden = false; $("audit-report").replaceChildren(); $("audit-figures").replaceChildren();
    $("audit-progress").value = 0; $("audit-count").textContent = "";
    const { res, data } = await post(url || "/api/audits", JSON.stringify(settings), { "Content-Type": "application/json" });
    if (res.status === 503) { setStatus(status, `${data.message} (retry after ${res.headers.get("Retry-After")} s)`, "busy"); return; }
    if (!res.ok) { setStatus(status, data.message || res.statusText, "bad"); return; }
    job = data.job; $("audit-name").textContent = data.out; $("cancel-audit").disabled = false;
    setStatus(status, "opening the store...");
    if (source) source.close();
    source = new EventSource(data.events);
    const finish = () => { source.close(); $("cancel-audit").disabled = true; };
    source.addEventListener("started", e => {
      const d = JSON.parse(e.data);
      setStatus(status, d.message ? d.message : d.already ? `resuming: ${d.already} records already audited, ${d.todo} to go` : `${d.todo} records to audit`);
      $("audit-progress").max = Math.max(d.todo, 1); figureCards($("audit-figures"), d.figures);
    });
    source.addEventListener("waiting", e => setStatus(status, JSON.parse(e.data).message, "busy"));
    source.addEventListener("checked", e => { const d = JSON.parse(e.data); setStatus(status, `embedder check: ${d.status} - ${d.message}`); });
    source.addEventListener("progress", e => {
      const d = JSON.parse(e.data);
      $("audit-progress").max = Math.max(d.todo, 1); $("audit-progress").value = d.done;
      $("audit-count").textContent = (d.stage ? `${d.stage}: ` : "") + `${d.done} of ${d.todo}`;
      if (d.figures) figureCards($("audit-figures"), d.figures);
    });
    source.addEventListener("done", e => {
      const d = JSON.parse(e.data);
      $("audit-progress").value = $("audit-progress").max;
      setStatus(status, `${d.status}: ${d.n} ${url === "/api/glitch" ? "tokens" : "records"}`);
      if (d.report) { const a = el("a", "open", "open the report"); a.href = `/runs/${d.report}`; a.id = "audit-report-link"; $("audit-report").appendChild(a); }
      document.body.dataset.auditDone = "1"; finish();
    });
    for (const kind of ["error", "cancelled"]) {
      source.addEventListener(kind, e => {
        if (!e.data) return;
        setStatus(status, JSON.parse(e.data).message, kind === "error" ? "bad" : "");
        document.body.dataset.auditDone = kind; finish();
      });
    }
  }
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const f = new FormData(form);
    start({ store: f.get("store"), out: f.get("out"), steps: f.get("steps"), beam: f.get("beam"), limit: f.get("limit"),
            sample: f.get("sample"), seed: f.get("seed"), inverter: f.get("inverter"), resume: f.get("resume") === "on" });
  });
  const glitch = $("glitch-form");
  glitch.addEventListener("submit", ev => {
    ev.preventDefault();
    const f = new FormData(glitch);
    start({ model: f.get("model"), out: f.get("out"), clusters: f.get("clusters"), control: f.get("control"),
            known_unused_sample: f.get("known_unused_sample"), top: f.get("top") }, "/api/glitch");
  });
  for (const b of document.querySelectorAll("button.resume")) {
    b.addEventListener("click", () => {
      const d = b.dataset;
      start({ store: d.store, out: d.out, steps: d.steps, beam: d.beam, limit: d.limit, sample: d.sample, seed: d.seed, resume: true,
              inverter: form.elements.inverter.value });
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.body.dataset.page === "try") tryPage();
  if (document.body.dataset.page === "runs") runsPage();
});
