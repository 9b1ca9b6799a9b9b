"""Helpers the web tests share: a served folder holding a real audit, and the app on a real socket."""
from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from test_stores import build

SCRIPT = "<script>alert('x')</script>"


def served_folder(root: Path, inverter, vectors) -> Path:
    """A folder with a real audit run (report and all), a defend run and a glitch run, and the
    store the audit read (for starting more audits)."""
    root = Path(root)
    from unembed.audit import audit

    uri, _ = build("faiss", root / "stores", vectors)
    audit(uri, inverter, root / "runs" / "first-audit", steps=1, beam=2)
    (root / "runs" / "defend-run").mkdir(parents=True)
    (root / "runs" / "defend-run" / "results.json").write_text(json.dumps({
        "signature": {"kind": "defend", "model": "tiny@abc"}, "threshold": 10,
        "recommendation": {"defence": "pca:64", "text": "pca:64 is the cheapest"},
        "retrieval": {"undefended": {"ndcg_at_10": 0.366}}, "settings": {},
        "defences": [{"defence": "none"}, {"defence": "pca:64"}]}))
    (root / "runs" / "glitch-run").mkdir(parents=True)
    (root / "runs" / "glitch-run" / "summary.json").write_text(json.dumps({
        "signature": {"kind": "glitch"}, "model": {"name": "minilm"}, "n_tokens": 30522, "candidates": 1266,
        "verified": 583, "methods": {}}))
    (root / "runs" / "glitch-run" / "report.html").write_text("<!DOCTYPE html><html><body><h1>glitch</h1></body></html>")
    # a run whose store URI holds markup and a password: shown escaped and redacted
    (root / "runs" / "odd").mkdir(parents=True)
    (root / "runs" / "odd" / "summary.json").write_text(json.dumps({
        "status": "complete", "n": 1, "cosine": 0.5, "embedder_check": {},
        "store": {"uri": f"postgresql://u:hunter2@db/x?table={SCRIPT}", "count": 1},
        "settings": {"store": f"postgresql://u:hunter2@db/x?table={SCRIPT}"}}))
    (root / "store_uri.txt").write_text(uri)
    return root


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running(app):
    """``app`` served by uvicorn on a free loopback port, in a thread; yields the base URL."""
    import uvicorn

    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def live_inversion(page, base: str, sentence: str, steps: int, beam: int, timeout_ms: int = 120_000) -> bytes:
    """Type ``sentence`` on the try-it page, invert it, wait for the final text; returns a full-page
    PNG screenshot (the browser test's own code, also what docs/serve_screenshot.py runs)."""
    page.goto(base + "/")
    page.fill("textarea[name=text]", sentence)
    page.fill("input[name=steps]", str(steps))
    page.fill("input[name=beam]", str(beam))
    page.click("#invert")
    page.wait_for_selector("body[data-done='1']", timeout=timeout_ms)
    return page.screenshot(full_page=True)


def sse(lines) -> list[tuple[str, dict]]:
    """(event, data) pairs from the lines of a server-sent event stream."""
    out, event = [], None
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            out.append((event, json.loads(line[5:])))
    return out
