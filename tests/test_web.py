"""unembed serve through its HTTP API: the live inversion stream, the queue and its busy answer,
audits started, cancelled and resumed, the runs listing; and the security rules (loopback, the
token, Host and Origin checks, no path traversal, upload limits, no pickle, escaping, redaction)."""
from __future__ import annotations

import io
import json
import os
import sys
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from test_stores import IDS, TEXTS  # noqa: E402
from unembed.errors import InputError, UnembedError  # noqa: E402
from unembed.web import create_app, require_web  # noqa: E402
from unembed.web.textdiff import word_diff  # noqa: E402
from test_glitch import tiny_lm  # noqa: E402,F401  (the tiny causal LM of the glitch tests)
from webserver import SCRIPT, served_folder, sse  # noqa: E402

LOCAL = "http://127.0.0.1:8000"
SENTENCE = "Alice lives in Paris and works as a baker."


@pytest.fixture(scope="module")
def inverter(tiny_run, minilm):
    from unembed import load_inverter

    return load_inverter(tiny_run, embedder=minilm, precision="fp32")


@pytest.fixture(scope="module")
def folder(tmp_path_factory, inverter, vectors):  # noqa: F811
    return served_folder(tmp_path_factory.mktemp("served"), inverter, vectors)


def client(folder, inverter, **kwargs) -> TestClient:
    base_url = kwargs.pop("base_url", LOCAL)
    return TestClient(create_app(folder, {"tiny": inverter}, **kwargs), base_url=base_url)


def events(c: TestClient, job: str) -> list[tuple[str, dict]]:
    with c.stream("GET", f"/api/jobs/{job}/events") as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        return sse(s.iter_lines())


def test_a_typed_sentence_streams_its_vector_steps_and_final_text(folder, inverter):
    c = client(folder, inverter)
    r = c.post("/api/invert", json={"text": SENTENCE, "steps": 3, "beam": 2})
    assert r.status_code == 202 and r.json()["position"] == 0
    evs = events(c, r.json()["job"])
    kinds = [k for k, _ in evs]
    assert kinds[0] == "queued" and kinds[-1] == "done" and kinds.count("step") >= 2
    vector = next(d for k, d in evs if k == "vector")
    assert vector["dim"] == 384 and vector["norm"] == pytest.approx(1.0, abs=1e-3) and vector["embedder"] == "minilm"
    assert len(vector["values"]) == 384
    steps = [d for k, d in evs if k == "step"]
    assert [s["step"] for s in steps] == list(range(len(steps)))
    assert [s["cosine"] for s in steps] == sorted(s["cosine"] for s in steps)  # the beam never loses its best
    for s in steps:
        assert s["candidates"][0] == [s["text"], s["cosine"]] and len(s["candidates"]) <= 2
        assert "".join(w for op, w in s["diff"] if op != "missing")  # the recovered words, marked against the original
    done = evs[-1][1]
    assert done["text"] == steps[-1]["text"] and done["original"] == SENTENCE
    assert done["text"] == inverter.invert_texts([SENTENCE], steps=3, beam=2)[0].text  # the Python API's own answer
    status = c.get(f"/api/jobs/{r.json()['job']}").json()
    assert status["state"] == "done" and len(status["events"]) == len(evs)


def test_word_diff_marks_recovered_wrong_and_missing_words():
    diff = word_diff("alice lives in rome and works", "Alice lives in Paris and works as a baker.", str.lower)
    assert diff == [["same", "alice"], ["same", "lives"], ["same", "in"], ["missing", "Paris"], ["wrong", "rome"],
                    ["same", "and"], ["same", "works"], ["missing", "as"], ["missing", "a"], ["missing", "baker"],
                    ["missing", "."]]


def test_inputs_out_of_bounds_get_one_clear_line(folder, inverter):
    c = client(folder, inverter)
    for body, words in (({"text": ""}, "no text"), ({"text": "x", "steps": 500}, "steps must be between"),
                        ({"text": "x", "beam": 0}, "beam must be between"), ({"text": "x" * 5000}, "limit"),
                        ({"text": "x", "inverter": "other"}, "unknown inverter")):
        r = c.post("/api/invert", json=body)
        assert r.status_code == 400 and words in r.json()["message"] and "\n" not in r.json()["message"]
    r = c.post("/api/invert", content=b"text=x", headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400


def test_uploaded_npy_and_jsonl_vectors_are_inverted(folder, inverter, vectors):  # noqa: F811
    c = client(folder, inverter)
    buf = io.BytesIO()
    np.save(buf, vectors[:3])
    r = c.post("/api/invert?filename=v.npy&row=1&steps=1&beam=2", content=buf.getvalue(),
               headers={"content-type": "application/octet-stream"})
    assert r.status_code == 202, r.text
    evs = events(c, r.json()["job"])
    assert evs[-1][0] == "done" and evs[-1][1]["original"] is None
    assert next(d for k, d in evs if k == "vector")["values"][:3] == [round(float(x), 4) for x in vectors[1][:3]]
    lines = "".join(json.dumps({"id": i, "vector": v.tolist(), "text": t}) + "\n" for i, v, t in zip(IDS, vectors, TEXTS))
    r = c.post("/api/invert?filename=v.jsonl&row=2&steps=1&beam=2", content=lines.encode(),
               headers={"content-type": "application/octet-stream"})
    evs = events(c, r.json()["job"])
    assert evs[-1][0] == "done" and evs[-1][1]["original"] == TEXTS[2] and evs[-1][1]["diff"]
    r = c.post("/api/invert?filename=v.npy&row=7", content=buf.getvalue(), headers={"content-type": "application/octet-stream"})
    assert r.status_code == 400 and "holds 3 row(s)" in r.json()["message"]
    r = c.post("/api/invert?filename=v.npy", content=b"not an array", headers={"content-type": "application/octet-stream"})
    assert r.status_code == 400
    wrong = io.BytesIO()
    np.save(wrong, np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32))  # not constant rows
    r = c.post("/api/invert?filename=w.npy", content=wrong.getvalue(), headers={"content-type": "application/octet-stream"})
    assert r.status_code == 400 and "dimension 16" in r.json()["message"]


def test_a_pickled_upload_is_refused_not_loaded(folder, inverter, tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    buf = io.BytesIO()
    np.save(buf, np.array([Evil()], dtype=object), allow_pickle=True)
    r = client(folder, inverter).post("/api/invert?filename=evil.npy", content=buf.getvalue(),
                                      headers={"content-type": "application/octet-stream"})
    assert r.status_code == 400 and not marker.exists()


def test_an_oversized_upload_is_refused_with_a_clear_message(folder, inverter):
    c = client(folder, inverter, max_upload=1000)
    r = c.post("/api/invert?filename=v.npy", content=b"\0" * 5000, headers={"content-type": "application/octet-stream"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert "too large" in r.json()["message"] and "1,000 bytes" in r.json()["message"] and "--max-upload" in r.json()["message"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b"\0" * 500

    r = c.post("/api/invert?filename=v.npy", content=chunks(), headers={"content-type": "application/octet-stream"})
    assert r.status_code == 413 and "too large" in r.json()["message"]


def test_the_full_queue_answers_503_with_retry_after_and_positions_are_shown(folder, inverter):
    c = client(folder, inverter, queue_size=1)
    worker = c.app.state.worker
    with worker.model_lock:  # the model is busy: the first job starts and waits, the next one queues
        first = c.post("/api/invert", json={"text": SENTENCE, "steps": 1, "beam": 1}).json()
        deadline = time.monotonic() + 10
        while worker.running is None and time.monotonic() < deadline:
            time.sleep(0.01)
        second = c.post("/api/invert", json={"text": SENTENCE, "steps": 1, "beam": 1})
        assert second.status_code == 202 and second.json()["position"] == 1
        assert c.get(f"/api/jobs/{second.json()['job']}").json()["position"] == 1
        third = c.post("/api/invert", json={"text": SENTENCE, "steps": 1, "beam": 1})
        assert third.status_code == 503 and third.json()["error"] == "busy"
        assert int(third.headers["retry-after"]) >= 1
    for job in (first["job"], second.json()["job"]):
        assert events(c, job)[-1][0] == "done"
    second_events = c.get(f"/api/jobs/{second.json()['job']}").json()["events"]
    assert [e["data"]["position"] for e in second_events if e["type"] == "queued"][-1] == 0  # it moved up, then ran


def test_a_queued_inversion_can_be_cancelled(folder, inverter):
    c = client(folder, inverter, queue_size=2)
    worker = c.app.state.worker
    with worker.model_lock:
        c.post("/api/invert", json={"text": SENTENCE, "steps": 1, "beam": 1})
        job = c.post("/api/invert", json={"text": SENTENCE, "steps": 1, "beam": 1}).json()["job"]
        assert c.post(f"/api/jobs/{job}/cancel").status_code == 200
    assert events(c, job)[-1][0] == "cancelled"


def test_a_running_inversion_stops_at_its_next_step_when_cancelled(folder, inverter):
    c = client(folder, inverter)
    worker = c.app.state.worker
    with worker.model_lock:  # the job has started and waits for the model
        job = c.post("/api/invert", json={"text": SENTENCE, "steps": 5, "beam": 2}).json()["job"]
        deadline = time.monotonic() + 10
        while worker.running is None and time.monotonic() < deadline:
            time.sleep(0.01)
        c.post(f"/api/jobs/{job}/cancel")
    evs = events(c, job)
    assert evs[-1][0] == "cancelled" and not any(k == "done" for k, _ in evs)
    assert c.post("/api/invert", json={"text": SENTENCE, "steps": 1, "beam": 1}).status_code == 202  # the worker goes on


def test_an_audit_error_names_the_store_without_its_password(folder, inverter):
    c = client(folder, inverter)
    r = c.post("/api/audits", json={"store": "postgresql://user:hunter2@127.0.0.1:9/db?table=t&column=v", "out": "runs/pg"})
    evs = events(c, r.json()["job"])
    assert evs[-1][0] == "error" and "hunter2" not in json.dumps(evs) and "hunter2" not in c.get(f"/api/jobs/{r.json()['job']}").text


def test_runs_are_listed_with_headline_figures_and_reports_open(folder, inverter):
    c = client(folder, inverter)
    runs = {r["path"]: r for r in c.get("/api/runs").json()["runs"]}
    assert {"runs/first-audit", "runs/defend-run", "runs/glitch-run", "runs/odd"} <= set(runs)
    audit = runs["runs/first-audit"]
    assert audit["kind"] == "audit" and audit["status"] == "complete" and audit["report"] == "runs/first-audit/report.html"
    figures = dict(audit["figures"])
    assert figures["records"] == f"{len(TEXTS)} of {len(TEXTS)}" and float(figures["cosine"]) > 0 and "BLEU" in figures
    assert runs["runs/defend-run"]["kind"] == "defend" and dict(runs["runs/defend-run"]["figures"])["recommended"] == "pca:64"
    assert runs["runs/glitch-run"]["kind"] == "glitch" and dict(runs["runs/glitch-run"]["figures"])["verified"] == "583"
    page = c.get("/runs").text
    assert 'href="/runs/runs/first-audit/report.html"' in page and "runs/glitch-run" in page
    report = c.get("/runs/runs/first-audit/report.html")
    assert report.status_code == 200 and report.text.startswith("<!DOCTYPE html>")
    assert report.headers["content-security-policy"].startswith("default-src 'none'")  # the report's own: no script
    assert c.get("/runs/runs/first-audit/summary.json").json()["n"] == len(TEXTS)
    assert c.get("/runs/runs/first-audit").status_code == 200  # a run folder opens its report


def test_stored_markup_comes_back_escaped_and_passwords_redacted(folder, inverter):
    c = client(folder, inverter)
    page = c.get("/runs").text
    assert SCRIPT not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "hunter2" not in page and "hunter2" not in c.get("/api/runs").text
    # what a user types comes back as data (JSON), which the page only ever sets as textContent
    r = c.post("/api/invert", json={"text": SCRIPT, "steps": 1, "beam": 1})
    done = events(c, r.json()["job"])[-1][1]
    assert done["original"] == SCRIPT
    js = c.get("/static/app.js").text
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js


def test_paths_outside_the_served_folder_are_refused(folder, inverter, tmp_path):
    outside = tmp_path / "secret.json"
    outside.write_text('{"secret": 1}')
    (folder / "link-out.json").unlink(missing_ok=True)
    os.symlink(outside, folder / "link-out.json")
    c = client(folder, inverter)
    for path in ("/runs/../../etc/passwd", "/runs/%2e%2e/%2e%2e/etc/passwd", "/runs/..%2f..%2fetc%2fpasswd",
                 f"/runs/{outside}", f"/runs//{outside}", "/runs/link-out.json", "/runs/store_uri.txt%00.json",
                 "/runs/stores/faiss/index.faiss"):
        r = c.get(path)
        assert r.status_code == 404 and '"secret": 1' not in r.text and "root:" not in r.text, path
    r = c.post("/api/audits", json={"store": "faiss:///x.index", "out": "../elsewhere"})
    assert r.status_code == 400 and "inside the served folder" in r.json()["message"]
    assert not (folder.parent / "elsewhere").exists()


def test_off_loopback_every_request_needs_the_token(folder, inverter):
    with pytest.raises(InputError, match="token"):
        create_app(folder, {"tiny": inverter}, host="0.0.0.0")
    c = client(folder, inverter, host="0.0.0.0", token="s3cret-token", base_url="http://192.0.2.7:8000")
    for method, path in (("GET", "/"), ("GET", "/runs"), ("GET", "/api/runs"), ("GET", "/static/app.js"),
                         ("POST", "/api/invert"), ("GET", "/runs/runs/first-audit/report.html")):
        r = c.request(method, path, json={"text": "x"} if method == "POST" else None)
        assert r.status_code == 401 and "token" in r.json()["message"], path
    assert c.get("/", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/?token=wrong").status_code == 401
    assert c.get("/", headers={"authorization": "Bearer s3cret-token"}).status_code == 200
    r = c.get("/runs?token=s3cret-token", follow_redirects=False)  # once: a cookie, and the URL without it
    assert r.status_code == 303 and r.headers["location"] == "/runs" and "HttpOnly" in r.headers["set-cookie"]
    assert c.get("/api/runs").status_code == 200  # the cookie now
    assert "s3cret-token" not in c.get("/").text


def test_on_loopback_foreign_host_names_and_cross_site_posts_are_refused(folder, inverter):
    c = client(folder, inverter)
    assert c.get("/", headers={"host": "evil.example:8000"}).status_code == 403  # DNS rebinding
    assert c.get("/", headers={"host": "localhost:8000"}).status_code == 200
    r = c.post("/api/invert", json={"text": "x"}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403
    r = c.get("/")
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert "http://" not in r.text and "https://" not in r.text  # no CDN, nothing external


def test_an_audit_started_from_the_api_can_be_cancelled_and_resumed(folder, inverter):
    c = client(folder, inverter)
    uri = (folder / "store_uri.txt").read_text()
    settings = {"store": uri, "out": "runs/web-audit", "steps": 1, "beam": 2}
    with c.app.state.worker.model_lock:  # the audit waits for the model: cancel it there
        r = c.post("/api/audits", json=settings)
        assert r.status_code == 202, r.text
        job = r.json()["job"]
        assert c.post("/api/audits", json={**settings, "out": "runs/other"}).status_code == 503  # one audit at a time
        deadline = time.monotonic() + 60
        while not any(e["type"] == "waiting" for e in c.get(f"/api/jobs/{job}").json()["events"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        c.post(f"/api/jobs/{job}/cancel")
    evs = events(c, job)
    assert evs[-1][0] == "cancelled" and "resume" in evs[-1][1]["message"]
    results = folder / "runs" / "web-audit" / "results.jsonl"
    kept = results.read_text().splitlines() if results.exists() else []
    assert 0 < len(kept) < len(TEXTS)  # the chunk in hand was finished and kept
    listed = {r["path"]: r for r in c.get("/api/runs").json()["runs"]}
    assert listed["runs/web-audit"]["status"] == "running"  # shown as interrupted, with a resume button
    assert 'class="resume" data-out="runs/web-audit"' in c.get("/runs").text
    again = c.post("/api/audits", json=settings)  # without resume: the CLI's refusal, one line
    assert events(c, again.json()["job"])[-1][1]["message"].endswith("or choose another --out")
    r = c.post("/api/audits", json={**settings, "resume": True})
    evs = events(c, r.json()["job"])
    assert evs[-1][0] == "done", evs[-1]
    assert [d for k, d in evs if k == "started"][0]["already"] == len(kept)
    progress = [d for k, d in evs if k == "progress"]
    assert progress and progress[-1]["done"] == len(TEXTS) - len(kept) and progress[-1]["figures"]["records"] == len(TEXTS)
    assert evs[-1][1]["report"] == "runs/web-audit/report.html" and evs[-1][1]["n"] == len(TEXTS)
    ids = [json.loads(line)["id"] for line in results.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == len(TEXTS)  # every record once: the resumed ones were not redone
    summary = json.loads((folder / "runs" / "web-audit" / "summary.json").read_text())
    assert summary["settings"]["names"]["file"] == "builtin"  # the name-list attack runs as on the command line
    assert summary["name_list"]["records"] == len(TEXTS) and summary["name_list"]["records_naming_a_listed_name"] >= 8


def test_a_missing_web_extra_is_one_line_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "starlette", None)
    with pytest.raises(UnembedError, match=r"pip install 'unembed\[web\]'"):
        require_web()


def test_serve_is_a_command_of_the_cli():
    from typer.testing import CliRunner

    from unembed.cli import app
    from unembed.cli.serve import inverter_names

    r = CliRunner().invoke(app, ["serve", "--help"])
    assert r.exit_code == 0 and "--folder" in r.output and "--token" in r.output and "--host" in r.output
    assert inverter_names(["minilm", "runs/a", "other/a"]) == {"minilm": "minilm", "a": "runs/a", "a'": "other/a"}


def test_a_glitch_audit_of_a_bad_model_or_folder_is_refused(folder, inverter):
    c = client(folder, inverter)
    r = c.post("/api/glitch", json={"model": "/nowhere/model", "out": "runs/glitch-bad"})
    assert events(c, r.json()["job"])[-1][0] == "error"
    assert c.post("/api/glitch", json={"model": "minilm", "out": "../x"}).status_code == 400
    assert c.post("/api/glitch", json={"model": "minilm", "out": "g", "clusters": 0}).status_code == 400


def test_the_tiny_lm_glitch_audit_runs_from_the_api(folder, inverter, tiny_lm):  # noqa: F811
    from test_glitch import TINY_SETTINGS

    c = client(folder, inverter)
    settings = {k: TINY_SETTINGS[k] for k in ("clusters", "control", "known_unused_sample", "seed")}
    r = c.post("/api/glitch", json={"model": str(tiny_lm[0]), "out": "runs/glitch-tiny", "top": TINY_SETTINGS["top_fraction"],
                                    **settings})
    assert r.status_code == 202, r.text
    evs = events(c, r.json()["job"])
    assert evs[-1][0] == "done", evs[-1]
    stages = {d["stage"] for k, d in evs if k == "progress"}
    assert "tokenizer checks" in stages and len(stages) >= 3
    assert evs[-1][1]["report"] == "runs/glitch-tiny/report.html"
    listed = {r["path"]: r for r in c.get("/api/runs").json()["runs"]}
    assert listed["runs/glitch-tiny"]["kind"] == "glitch"
    assert c.get("/runs/runs/glitch-tiny/report.html").status_code == 200
