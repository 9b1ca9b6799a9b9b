"""Audits end to end against real stores with the tiny trained inverter; sensitive items; the embedder
check; resume after an interruption; the command line; the report in headless Chromium."""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from test_stores import IDS, TEXTS, build
from unembed.audit import Audit, audit, check_fit, find_items, score_record, summarize
from unembed.errors import EmbedderError, InputError

UNEMBED = shutil.which("unembed", path=str(Path(sys.executable).parent)) or "unembed"
SUMMARY_KEYS = ("n", "bleu", "token_f1", "exact_match", "cosine", "sensitive", "store", "embedder_check")


# --------------------------------------------------------------------------------------------------
# Sensitive items
# --------------------------------------------------------------------------------------------------


def kinds(text):
    return [(it["kind"], it["text"]) for it in find_items(text)]


def test_sensitive_items_are_found_by_kind():
    assert kinds("Please send the signed contract to maria.garcia@example.com before Friday.") == [
        ("email", "maria.garcia@example.com")]
    assert kinds("John Smith was admitted to the hospital on 12 March 2023 with chest pain.") == [
        ("name", "John Smith"), ("date", "12 March 2023")]
    assert kinds("Call me at 555-0142 or +44 20 7946 0958 if the delivery is late again.") == [
        ("phone", "555-0142"), ("phone", "+44 20 7946 0958")]
    assert kinds("Revenue grew by 14 percent to 2.3 million dollars in 3 quarters.") == [
        ("number", "14"), ("number", "2.3")]
    assert kinds("Invoice 2023-03-12 was paid on March 14, 2023 by Dr. Okafor.") == [
        ("date", "2023-03-12"), ("date", "March 14, 2023"), ("name", "Okafor")]
    assert kinds("John McDonald met Zoë Ørsted and Jean-Luc Picard at NASA.") == [
        ("name", "John McDonald"), ("name", "Zoë Ørsted"), ("name", "Jean-Luc Picard")]
    # sentence-initial words and places are not names; lowercase names are not seen (a stated limit)
    assert kinds("Paris is the capital of France.") == []
    assert kinds("The meeting moved. Will you come?") == []
    assert kinds("alice lives in paris.") == []


def test_recovery_ignores_spacing_and_case_but_not_characters(minilm):
    norm = minilm.normalize_text
    rec = score_record("please send it to maria. garcia @ example. com before friday.",
                       "Please send it to maria.garcia@example.com before Friday.", norm)
    assert rec["sensitive"] == [{"kind": "email", "text": "maria.garcia@example.com", "recovered": True}]
    assert rec["exact_match"] is False and rec["exact_match_cased"] is False
    rec = score_record("send it to maria. garcia @ example. org", "Send it to maria.garcia@example.com", norm)
    assert rec["sensitive"][0]["recovered"] is False
    rec = score_record("john smyth was admitted on 12 march 2023.", "John Smith was admitted on 12 March 2023.", norm)
    by_kind = {it["kind"]: it for it in rec["sensitive"]}
    assert by_kind["date"]["recovered"] is True
    assert by_kind["name"]["recovered"] is False and by_kind["name"]["partial"] is True
    rec = score_record("alice lives in paris.", "Alice lives in Paris.", norm)
    assert rec["exact_match"] is True and rec["bleu"] == pytest.approx(100) and rec["token_f1"] == 100


def test_summary_aggregates_sensitive_items():
    recs = [dict(id="a", text="x", cosine=0.5, original="y", **score_record("call 555-0142", "Call 555-0142 now")),
            dict(id="b", text="x", cosine=0.9, original="y", **score_record("call 555-0143", "Call 555-0142 now")),
            dict(id="c", text="write to bob@example.com", cosine=0.7, original=None,
                 leaked_patterns=[{"kind": "email", "text": "bob@example.com"}])]
    s = summarize(recs)
    assert s["n"] == 3 and s["n_with_original"] == 2
    assert s["sensitive"]["phone"] == {"found": 2, "recovered": 1, "rate": 0.5}
    assert s["sensitive"]["email"]["rate"] is None
    assert s["cosine"] == pytest.approx(0.7) and s["leaked_patterns_without_original"] == {"email": 1}


# --------------------------------------------------------------------------------------------------
# The embedder check
# --------------------------------------------------------------------------------------------------


def rotated(v, seed=1):
    """The same texts through a 'different embedder' of the same shape: a random rotation."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((v.shape[1], v.shape[1])))
    return (v @ q).astype(np.float32)


def test_check_fit_statuses(tiny_inverter, vectors):
    fit = check_fit(vectors, TEXTS, tiny_inverter)
    assert fit["status"] == "match" and fit["reembed"]["median"] > 0.999 and fit["norms"]["ok"]
    fit = check_fit(rotated(vectors), TEXTS, tiny_inverter)
    assert fit["status"] == "mismatch" and "does not reproduce" in fit["message"]
    noisy = vectors + 0.025 * np.random.default_rng(0).standard_normal(vectors.shape).astype(np.float32)
    assert check_fit(noisy, TEXTS, tiny_inverter)["status"] in ("approximate", "mismatch")
    assert check_fit(noisy, TEXTS, tiny_inverter, lossy=True)["status"] == "approximate"
    fit = check_fit(vectors, None, tiny_inverter)
    assert fit["status"] == "plausible", fit
    assert fit["probe"]["median_cosine"] > fit["probe"]["random_median_cosine"]
    assert check_fit(rotated(vectors), None, tiny_inverter)["status"] == "mismatch"
    fit = check_fit(np.ones((3, 16), np.float32), None, tiny_inverter)
    assert fit["status"] == "mismatch" and "dimension 16" in fit["message"]
    fit = check_fit(vectors * 3.0, TEXTS, tiny_inverter)
    assert fit["status"] == "match" and fit["rescale"] and not fit["norms"]["ok"]


# --------------------------------------------------------------------------------------------------
# End to end on every store
# --------------------------------------------------------------------------------------------------


def read_results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("kind", ["chroma", "qdrant", "lancedb", "faiss", "pgvector", "milvus"])
def test_audit_end_to_end(kind, tmp_path, tiny_inverter, vectors, request):
    pg_srv = request.getfixturevalue("pg") if kind == "pgvector" else None
    uri, state = build(kind, tmp_path / "store", vectors, pg=pg_srv)
    before = state()
    out = tmp_path / "audit"
    seen = []
    summary = audit(uri, tiny_inverter, out, steps=1, beam=2, batch_size=5, progress=seen.append)
    assert state() == before, "the audit changed the store"
    for key in SUMMARY_KEYS:
        assert key in summary
    assert summary["status"] == "complete" and summary["n"] == len(TEXTS) and summary["n_with_original"] == len(TEXTS)
    assert summary["embedder_check"]["status"] == "match"
    assert summary["store"]["count"] == len(TEXTS) and summary["store"]["lossy"] is False
    assert 0 <= summary["bleu"] <= 100 and 0 <= summary["token_f1"] <= 100 and 0 <= summary["exact_match"] <= 100
    assert summary["sensitive"]["email"]["found"] == 1 and summary["sensitive"]["phone"]["found"] == 1
    assert summary["sensitive"]["name"]["found"] >= 8 and summary["stored_cosine"] > 0.999
    assert seen == [5, 10, 12]
    recs = read_results(out)
    assert len(recs) == len(TEXTS) and len({r["id"] for r in recs}) == len(TEXTS)
    originals = {r["original"] for r in recs}
    assert originals == set(TEXTS)
    for r in recs:
        assert r["text"] and -1 <= r["cosine"] <= 1 and "bleu" in r and "sensitive" in r
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["n"] == len(TEXTS) and on_disk["store"]["uri"] == uri
    assert (out / "report.html").stat().st_size > 10_000


def test_audit_without_originals_ranks_by_cosine(tmp_path, tiny_inverter, vectors):
    uri, _ = build("faiss", tmp_path, vectors, with_texts=False)
    summary = audit(uri, tiny_inverter, tmp_path / "a", steps=0, beam=1)
    assert summary["embedder_check"]["status"] == "plausible"
    assert summary["n"] == len(TEXTS) and summary["n_with_original"] == 0
    assert summary["bleu"] is None and summary["cosine"] is not None
    assert all(r["original"] is None and "leaked_patterns" in r for r in read_results(tmp_path / "a"))
    assert "no original texts" in (tmp_path / "a" / "report.html").read_text()


def test_lossy_faiss_codes_are_flagged(tmp_path, tiny_inverter, vectors):
    uri, _ = build("faiss-pq", tmp_path, vectors)
    summary = audit(uri, tiny_inverter, tmp_path / "a", steps=0, beam=1)
    assert summary["store"]["lossy"] is True and any("LOSSY" in n for n in summary["store"]["notes"])
    assert summary["embedder_check"]["status"] in ("match", "approximate")
    assert "LOSSY STORE" in (tmp_path / "a" / "report.html").read_text()


def test_mismatched_store_is_refused_with_a_report(tmp_path, tiny_inverter, vectors):
    uri, _ = build("chroma", tmp_path, rotated(vectors))
    out = tmp_path / "a"
    with pytest.raises(EmbedderError, match="audit refused: re-embedding 12 stored documents"):
        audit(uri, tiny_inverter, out, steps=0, beam=1)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "refused" and summary["n"] == 0
    assert summary["embedder_check"]["status"] == "mismatch"
    assert "audit was refused" in (out / "report.html").read_text()
    assert not (out / "results.jsonl").exists()
    forced = audit(uri, tiny_inverter, tmp_path / "b", steps=0, beam=1, force=True)
    assert forced["n"] == len(TEXTS) and forced["embedder_check"]["forced"] is True


def test_limit_sample_and_resume_after_interruption(tmp_path, tiny_inverter, vectors):
    uri, _ = build("lancedb", tmp_path, vectors)
    s = audit(uri, tiny_inverter, tmp_path / "limit", steps=0, beam=1, limit=5)
    assert [r["id"] for r in read_results(tmp_path / "limit")] == IDS[:5] and s["selected"] == 5
    s1 = audit(uri, tiny_inverter, tmp_path / "s1", steps=0, beam=1, sample=4, seed=3)
    s2 = audit(uri, tiny_inverter, tmp_path / "s2", steps=0, beam=1, sample=4, seed=3)
    ids1 = [r["id"] for r in read_results(tmp_path / "s1")]
    assert len(ids1) == 4 and ids1 == [r["id"] for r in read_results(tmp_path / "s2")] and s1["n"] == s2["n"] == 4

    out = tmp_path / "run"

    def interrupt(done):
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        audit(uri, tiny_inverter, out, steps=0, beam=1, batch_size=4, progress=interrupt)
    kept = read_results(out)
    assert [r["id"] for r in kept] == IDS[:4]
    assert json.loads((out / "summary.json").read_text())["status"] == "running"
    with open(out / "results.jsonl", "a") as f:
        f.write('{"id": "doc-4", "text": "cut off by a ki')  # a line cut by a kill
    with pytest.raises(InputError, match="--resume"):
        Audit(uri, tiny_inverter, out, steps=0, beam=1)
    with pytest.raises(InputError, match="steps=0, not 1"):
        Audit(uri, tiny_inverter, out, steps=1, beam=1, resume=True)
    with Audit(uri, tiny_inverter, out, steps=0, beam=1, resume=True) as job:
        assert len(job.done_ids) == 4 and job.todo == len(TEXTS) - 4
        summary = job.run()
    recs = read_results(out)
    assert [r["id"] for r in recs] == IDS and recs[:4] == kept
    assert summary["n"] == len(TEXTS) and summary["status"] == "complete"


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def run_cli(*args, code=0):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    p = subprocess.run([UNEMBED, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == code, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p


def test_cli_audit_resume_and_errors(tmp_path, tiny_run, vectors):
    uri, state = build("chroma", tmp_path, vectors)
    before = state()
    out = tmp_path / "audit"
    p = run_cli("audit", uri, "--inverter", tiny_run, "--steps", 1, "--beam", 2, "--out", out, "--limit", 7, "--json")
    summary = json.loads(p.stdout)
    assert summary["n"] == 7 and summary["embedder_check"]["status"] == "match"
    assert summary["settings"]["names"]["file"] == "builtin" and summary["name_list"]["records"] == 7
    assert "embedder check: match" in p.stderr and "auditing" in p.stderr
    for name in ("results.jsonl", "summary.json", "report.html"):
        assert (out / name).exists()
    p = run_cli("audit", uri, "--inverter", tiny_run, "--steps", 1, "--beam", 2, "--out", out, "--limit", 7, code=2)
    assert one_error_line(p).startswith("error:") and "--resume" in p.stderr
    p = run_cli("audit", uri, "--inverter", tiny_run, "--steps", 1, "--beam", 2, "--out", out, "--limit", 7, "--resume")
    assert "resuming: 7 records" in p.stderr and "BLEU" in p.stdout and "records audited" in p.stdout
    assert len(read_results(out)) == 7
    assert state() == before

    wrong, _ = build("faiss", tmp_path / "wrong", np.random.default_rng(0).standard_normal((6, 16)).astype(np.float32),
                     texts=TEXTS[:6], ids=IDS[:6])
    p = run_cli("audit", wrong, "--inverter", tiny_run, "--out", tmp_path / "w", code=2)
    assert "dimension 16 but the inverter expects 384" in one_error_line(p)
    p = run_cli("audit", f"chroma://{tmp_path}/nowhere?collection=docs", "--inverter", tiny_run, "--out", tmp_path / "x", code=2)
    assert "no chroma store" in one_error_line(p).lower()  # checked before any client loads
    assert not (tmp_path / "x").exists()
    p = run_cli("audit", uri, "--inverter", tiny_run, "--out", tmp_path / "y", "--names", tmp_path / "nobody.txt",
                code=2)
    assert "--names" in one_error_line(p) and not (tmp_path / "y").exists()


def one_error_line(p) -> str:
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:") and "Traceback" not in p.stderr, p.stderr
    return lines[-1]


# --------------------------------------------------------------------------------------------------
# The report in headless Chromium
# --------------------------------------------------------------------------------------------------


def render(exe: str, url: str, width: int = 1280, height: int = 2000, timeout: float = 90.0):
    """Load ``url`` in headless Chromium (the executable ``exe``) driven over its DevTools pipe.

    Returns (PNG screenshot, every URL the page requested), from the page's own Network events, so
    the browser's background traffic is not mistaken for the page's. A dead proxy on the loopback
    address keeps anything from leaving the machine during the test whatever happens.
    """
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    profile = tempfile.mkdtemp(prefix="unembed-chromium-")

    def child():  # the DevTools pipe: Chromium reads commands on fd 3 and answers on fd 4
        a, b = fcntl.fcntl(r_in, fcntl.F_DUPFD, 10), fcntl.fcntl(w_out, fcntl.F_DUPFD, 10)
        os.dup2(a, 3)
        os.dup2(b, 4)

    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--remote-debugging-pipe",
            f"--user-data-dir={profile}", "--no-first-run", "--disable-background-networking", "--disable-extensions",
            "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--hide-scrollbars",
            f"--window-size={width},{height}", "about:blank"]
    proc = subprocess.Popen(args, preexec_fn=child, close_fds=False, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(r_in)
    os.close(w_out)
    state = {"buf": b"", "n": 0}
    answers, events = {}, []
    deadline = time.monotonic() + timeout

    def pump(until):
        while time.monotonic() < deadline:
            found = until()
            if found is not None:
                return found
            if select.select([r_out], [], [], 0.5)[0]:
                chunk = os.read(r_out, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                *msgs, state["buf"] = (state["buf"] + chunk).split(b"\0")
                for m in msgs:
                    msg = json.loads(m)
                    if "id" in msg:
                        answers[msg["id"]] = msg
                    else:
                        events.append(msg)
        raise TimeoutError("chromium did not answer in time")

    def call(method, params=None, session=None):
        state["n"] += 1
        n = state["n"]
        msg = {"id": n, "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        os.write(w_in, json.dumps(msg).encode() + b"\0")
        answer = pump(lambda: answers.pop(n, None))
        assert "error" not in answer, answer
        return answer["result"]

    try:
        page = next(t["targetId"] for t in call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        session = call("Target.attachToTarget", {"targetId": page, "flatten": True})["sessionId"]
        call("Network.enable", session=session)
        call("Page.enable", session=session)
        call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                    "mobile": False}, session)
        call("Page.navigate", {"url": url}, session)
        pump(lambda: next((e for e in events if e.get("method") == "Page.loadEventFired"), None))
        settle = time.monotonic() + 1.0
        pump(lambda: True if time.monotonic() > settle else None)
        png = base64.b64decode(call("Page.captureScreenshot", {"format": "png"}, session)["data"])
        requested = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
        try:
            os.write(w_in, json.dumps({"id": 10**6, "method": "Browser.close", "params": {}}).encode() + b"\0")
        except OSError:
            pass
        return png, requested
    finally:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(w_in)
        os.close(r_out)
        shutil.rmtree(profile, ignore_errors=True)


def external(urls):
    return [u for u in urls if not u.startswith(("file:", "data:", "about:"))]


def test_request_detector_sees_what_a_page_fetches(tmp_path, chromium):
    page = tmp_path / "control.html"
    page.write_text('<html><body><h1>control</h1><img src="http://unembed-test.invalid/x.png">'
                    '<link rel="stylesheet" href="https://unembed-test.invalid/a.css"></body></html>')
    _, urls = render(chromium, page.as_uri(), height=400)
    assert sorted(external(urls)) == ["http://unembed-test.invalid/x.png", "https://unembed-test.invalid/a.css"]


def test_report_renders_offline_and_is_not_blank(tmp_path, tiny_inverter, vectors, chromium):
    from matplotlib.image import imread

    uri, _ = build("faiss", tmp_path, vectors)
    audit(uri, tiny_inverter, tmp_path / "a", steps=1, beam=2)
    html = (tmp_path / "a" / "report.html").read_text()
    assert "http://" not in html.replace('http-equiv', '') and "https://" not in html and "<script" not in html
    png, urls = render(chromium, (tmp_path / "a" / "report.html").as_uri())
    assert external(urls) == [], external(urls)
    assert sum(u.startswith("data:image/png") for u in urls) == 4  # the four plots, from the page itself
    shot = tmp_path / "shot.png"
    shot.write_bytes(png)
    img = imread(shot)[..., :3]
    assert img.shape[0] >= 1000 and img.shape[1] == 1280
    background = np.all(np.abs(img - img[5, 5]) < 0.02, axis=-1)
    assert background.mean() < 0.9, "the screenshot is (almost) blank"
    assert len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50  # text, plots, colours


def test_summary_carries_the_project_signature(tmp_path, tiny_inverter, vectors):
    store, _ = build("faiss", tmp_path, vectors)
    with Audit(store, tiny_inverter, tmp_path / "out", steps=1, beam=1, sample=3, seed=5) as job:
        job.check()
        s = job.run()
    sig = s["signature"]
    assert sig["model"] == tiny_inverter.model_id and sig["n"] == 3 and sig["selection"] == "sample3:seed5"
    assert "steps:1|beam:1" in sig["string"] and sig["string"].endswith(f"unembed:{sig['unembed']}")
    assert "13a" in sig["metrics"]["bleu"]
    assert sig["string"] in (tmp_path / "out" / "report.html").read_text()


def test_an_audit_with_token_edits_names_them_and_resumes_only_with_them(tmp_path, tiny_inverter, vectors):
    store, _ = build("faiss", tmp_path, vectors)
    with Audit(store, tiny_inverter, tmp_path / "out", steps=1, beam=1, limit=3, edits=2) as job:
        job.check()
        s = job.run()
    assert "steps:1|beam:1|edits:2" in s["signature"]["string"]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["settings"]["edits"] == 2
    with pytest.raises(InputError, match="edits=2"):
        Audit(store, tiny_inverter, tmp_path / "out", steps=1, beam=1, limit=3, resume=True)
    plain = audit(store, tiny_inverter, tmp_path / "plain", steps=1, beam=1, limit=3)
    assert "|edits:" not in plain["signature"]["string"]


# --------------------------------------------------------------------------------------------------
# The name-list attack (--names)
# --------------------------------------------------------------------------------------------------

PEOPLE = ["Alice", "Bob", "Maria Garcia", "John Smith", "Carol", "Dave", "Erin", "Frank", "Grace"]
OTHERS = ("Henry Olivia Liam Noah Emma Sophia Lucas Mia Ethan Isabella Oliver Amelia James Harper Benjamin Evelyn "
          "Jacob Abigail Michael Emily Daniel Ella Logan Scarlett Jackson Chloe Sebastian Victoria Aiden Riley "
          "Matthew Aria Samuel Lily David Zoe Joseph Nora Carter Hannah").split()


def test_a_name_list_picks_out_whom_each_vector_names_without_the_inverter(tmp_path, tiny_inverter, vectors):
    from unembed.audit.names import NameList

    path = tmp_path / "names.txt"
    path.write_text("# our staff directory\n" + "\n".join(PEOPLE + OTHERS + ["Alice"]) + "\n")
    names = NameList.read(path, tiny_inverter.embedder)
    assert len(names.names) == len(PEOPLE) + len(OTHERS)  # comment and repeat dropped
    store, _ = build("faiss", tmp_path / "s", vectors)
    s = audit(store, tiny_inverter, tmp_path / "out", steps=0, beam=1, names=names)
    nl = s["name_list"]
    # 9 records name a listed person (the e-mail address maria.garcia@... names Maria Garcia)
    assert nl["records"] == len(TEXTS) and nl["records_naming_a_listed_name"] == 9
    assert nl["right_first"] >= 7 and nl["rate_first"] > 10 * nl["chance_first"]
    from unembed.audit.report_sections import store_sentences

    given = s["intervals"]["figures"]["name_list_records"]  # every record audited: the store's own figure
    assert given["k"] == nl["right_first"] and given["n"] == len(TEXTS)
    assert any("name a person whom the name list ranks first" in x for x in store_sentences(s))
    recs = {r["original"]: r["names"] for r in read_results(tmp_path / "out")}
    assert recs[TEXTS[0]]["listed"] == ["Alice"] and recs[TEXTS[0]]["guesses"][0][0] == "Alice"
    assert recs[TEXTS[4]]["listed"] == [] and recs[TEXTS[4]]["rank"] is None  # a phone number names nobody
    assert s["settings"]["names"]["names"] == len(names.names) and "Alice" not in json.dumps(s["settings"])
    assert f"|names:{len(names.names)}:" in s["signature"]["string"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Whom the vectors name" in html and "ranks the right name first in" in html
    from unembed.web.runs import read_run

    listed = dict(read_run(tmp_path, tmp_path / "out").figures)["listed names: right person first"]
    assert listed == f"{nl['right_first']} of 9"  # and the web app's list of runs shows it
    # resuming with another list, or none, is refused
    other = tmp_path / "other.txt"
    other.write_text("\n".join(OTHERS) + "\n")
    with pytest.raises(InputError, match="names="):
        Audit(store, tiny_inverter, tmp_path / "out", steps=0, beam=1, resume=True,
              names=NameList.read(other, tiny_inverter.embedder))
    with pytest.raises(InputError, match="names="):
        Audit(store, tiny_inverter, tmp_path / "out", steps=0, beam=1, resume=True)
    # without stored originals the guesses and their margins are all there is
    bare, _ = build("faiss", tmp_path / "bare", vectors, with_texts=False)
    s = audit(bare, tiny_inverter, tmp_path / "bare-out", steps=0, beam=1, names=names)
    assert s["name_list"]["records_naming_a_listed_name"] == 0
    by_margin = sorted(read_results(tmp_path / "bare-out"), key=lambda r: -r["names"]["margin"])
    assert {r["names"]["guesses"][0][0] for r in by_margin[:6]} <= set(PEOPLE)
    # a list of one name is refused with one line
    one = tmp_path / "one.txt"
    one.write_text("Alice\n")
    with pytest.raises(InputError, match="at least 2"):
        NameList.read(one, tiny_inverter.embedder)


def test_every_audit_runs_the_attack_with_common_given_names_unless_told_not_to(tmp_path, tiny_inverter, vectors):
    from unembed.audit.names import load_names

    builtin = load_names("builtin", tiny_inverter.embedder)
    assert builtin.builtin and len(builtin.names) > 300 and load_names("none", tiny_inverter.embedder) is None
    with pytest.raises(InputError, match="no such file"):
        load_names(tmp_path / "missing.txt", tiny_inverter.embedder)
    store, _ = build("faiss", tmp_path / "s", vectors)
    s = audit(store, tiny_inverter, tmp_path / "out", steps=0, beam=1, names=builtin)
    # Alice, Bob, Maria (in her e-mail address), John, Carol, Dave, Erin, Frank and Grace are common given names
    assert s["name_list"]["records_naming_a_listed_name"] == 9 and s["name_list"]["right_first"] >= 7
    assert "built-in list of" in (tmp_path / "out" / "report.html").read_text()
    # an audit begun before name lists existed resumes as it was run: without one
    plain = tmp_path / "plain"
    with Audit(store, tiny_inverter, plain, steps=0, beam=1, limit=4) as job:
        job.check()
        job.run()
    run_json = json.loads((plain / "run.json").read_text())
    del run_json["settings"]["names"]
    (plain / "run.json").write_text(json.dumps(run_json))
    with Audit(store, tiny_inverter, plain, steps=0, beam=1, limit=4, resume=True, names=builtin) as job:
        assert job.names is None and job.settings["names"] is None
