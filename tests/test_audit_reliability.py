"""Audits that are interrupted, resumed, pointed at the wrong folder, or killed (issue 13: defects 2-4,
the crash tests with real signals, and the read-only proof across an interrupted and resumed audit)."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import half_written
from test_stores import IDS, TEXTS, build
from unembed.audit import Audit, audit
from unembed.audit import shards
from unembed.errors import InputError


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]


def interrupted_after(uri, inverter, out, n, **kw):
    def stop(done):
        if done >= n:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        audit(uri, inverter, out, steps=0, beam=1, batch_size=4, progress=stop, **kw)


# -- defect 2: a tail without its newline is repaired, never glued onto ---------------------------------


def test_resume_after_a_whole_last_record_without_newline_never_glues_records(tmp_path, tiny_inverter, vectors):
    uri, _ = build("faiss", tmp_path / "store", vectors)
    out = tmp_path / "a"
    interrupted_after(uri, tiny_inverter, out, 4)
    path = out / "results.jsonl"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # the last record is whole but has no newline
    with Audit(uri, tiny_inverter, out, steps=0, beam=1, batch_size=4, resume=True) as job:
        assert len(job.done_ids) == 4
        summary = job.run()
    recs = records(out)
    assert [r["id"] for r in recs] == [str(i) for i in range(len(TEXTS))]  # faiss ids are positions
    assert summary["status"] == "complete" and summary["n"] == len(TEXTS)


def test_a_shard_file_with_an_unterminated_record_is_repaired_before_appending(tmp_path):
    shard = tmp_path / "s.jsonl"
    shard.write_bytes(b'{"id": "a", "pos": 0}\n{"id": "b", "pos": 1}')
    assert shards.repair(shard) == {"a", "b"}
    with open(shard, "a") as f:
        f.write('{"id": "c", "pos": 2}\n')
    assert [json.loads(x)["id"] for x in shard.read_text().splitlines()] == ["a", "b", "c"]


@pytest.mark.parametrize("content, ids, kept", [
    (b'{"id": "a"}\n{"id": "b", "te', {"a"}, b'{"id": "a"}\n'),  # a cut tail is dropped
    (b'{"id": "a"}\ngarbage\n{"id": "b"}\n', {"a", "b"}, b'{"id": "a"}\n{"id": "b"}\n'),  # bad line inside
    (b'{"id": "a"}\n{"id": "a"}\n{"id": "b"}\n', {"a", "b"}, b'{"id": "a"}\n{"id": "b"}\n'),  # repeated id
    (b'[1, 2]\n{"id": "a"}', {"a"}, b'{"id": "a"}\n'),  # not a record
    (b'', set(), b''),
])
def test_repair_keeps_exactly_the_valid_first_seen_records(tmp_path, content, ids, kept):
    path = tmp_path / "r.jsonl"
    path.write_bytes(content)
    assert shards.repair(path) == ids
    assert path.read_bytes() == kept


def test_a_summary_is_complete_only_when_every_record_is_there_once(tmp_path, tiny_inverter, vectors):
    uri, _ = build("faiss", tmp_path / "store", vectors)
    out = tmp_path / "a"
    with Audit(uri, tiny_inverter, out, steps=0, beam=1) as job:
        assert job.run()["status"] == "complete"
        with open(out / "results.jsonl", "a") as f:  # a record repeated by a bad merge
            f.write(json.dumps(records(out)[0]) + "\n")
        assert job._completeness() == "incomplete"


# -- defect 3: the run's identity lives with the results ------------------------------------------------


def test_resume_without_summary_refuses_another_store(tmp_path, tiny_inverter, vectors):
    first, _ = build("faiss", tmp_path / "one", vectors)
    second, _ = build("faiss", tmp_path / "two", vectors[::-1].copy(), texts=TEXTS[::-1], ids=IDS[::-1])
    out = tmp_path / "a"
    interrupted_after(first, tiny_inverter, out, 4)
    (out / "summary.json").unlink()
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["store"] == first and run["settings"]["inverter"] == tiny_inverter.model_id
    with pytest.raises(InputError, match=r"holds an audit with store=.*one.*resume it with the same settings"):
        Audit(second, tiny_inverter, out, steps=0, beam=1, resume=True)
    with Audit(first, tiny_inverter, out, steps=0, beam=1, batch_size=4, resume=True) as job:
        assert job.run()["status"] == "complete"


def test_results_with_no_record_of_their_run_are_refused_on_resume(tmp_path, tiny_inverter, vectors):
    uri, _ = build("faiss", tmp_path / "store", vectors)
    out = tmp_path / "a"
    out.mkdir()
    (out / "results.jsonl").write_text('{"id": "doc-0", "pos": 0, "text": "x", "cosine": 0.5}\n')
    with pytest.raises(InputError, match="no run.json saying which store"):
        Audit(uri, tiny_inverter, out, steps=0, beam=1, resume=True)


# -- defect 4: private copies under the audit's folder, removed, swept, reported -----------------------


def test_a_private_copy_lives_under_the_audit_folder_and_the_report_says_it_was_removed(tmp_path, tiny_inverter, vectors):
    uri, _ = build("chroma", tmp_path / "store", vectors)
    out = tmp_path / "a"
    summary = audit(uri, tiny_inverter, out, steps=0, beam=1)
    copy = summary["store"]["private_copy"]
    assert copy["removed"] is True and Path(copy["path"]).parent == out / "private-copies"
    assert not (out / "private-copies").exists()
    report = (out / "report.html").read_text()
    assert copy["path"] in report and "was removed" in report


def test_a_copy_left_by_a_killed_run_is_swept_by_the_next_run_and_reported(tmp_path, tiny_inverter, vectors):
    uri, _ = build("chroma", tmp_path / "store", vectors)
    out = tmp_path / "a"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = out / "private-copies" / f"unembed-store-{dead.pid}-x1" / "chroma"
    left.mkdir(parents=True)
    (left / "chroma.sqlite3").write_text("maria.garcia@example.com")
    summary = audit(uri, tiny_inverter, out, steps=0, beam=1)
    assert not left.parent.exists()
    assert any("killed run was found and removed" in n for n in summary["store"]["notes"])


# -- crash tests with real signals ------------------------------------------------------------------------


def cli(*args, **kw):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "unembed", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, **kw)


def wait_for_records(out: Path, proc, at_least: int, timeout: float = 240) -> None:
    """Until the audit has started (run.json) and results (or a shard) hold ``at_least`` lines, or the
    process ends. (A signal before the command line has installed its handlers kills the process
    before it has written anything: not a point worth testing.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        files = [out / "results.jsonl", *shards.shard_files(out)]
        if (out / "run.json").exists() and sum(f.read_bytes().count(b"\n") for f in files if f.exists()) >= at_least:
            return
        time.sleep(0.02)


@pytest.mark.timeout(900)
def test_kill_9_and_sigterm_at_random_points_then_resume_reach_the_records_of_one_uninterrupted_run(
        tmp_path, tiny_run, vectors):
    """Real signals at random points of `unembed audit` on a Chroma store (a private copy): after each
    kill, a resume; in the end the same set of records as an uninterrupted run, nothing half-written
    read as valid, no private copy left, and the store's files unchanged byte for byte."""
    uri, state = build("chroma", tmp_path / "store", vectors)
    before = state()
    args = ["--inverter", tiny_run, "--steps", 0, "--beam", 1, "--batch-size", 2, "--no-advice", "--json"]
    ref = cli("audit", uri, "--out", tmp_path / "ref", *args)
    assert ref.wait(timeout=600) == 0, ref.stderr.read().decode()[-2000:]
    want = {(r["id"], r["text"]) for r in records(tmp_path / "ref")}
    tally = {"signals": 0, "resumes": 0}
    for seed, sig in [(1, signal.SIGKILL), (2, signal.SIGTERM), (3, signal.SIGKILL)]:
        rng = random.Random(seed)
        out = tmp_path / f"run-{seed}"
        proc = cli("audit", uri, "--out", out, *args)
        wait_for_records(out, proc, rng.randint(0, len(TEXTS) - 2))
        time.sleep(rng.uniform(0, 0.3))
        if proc.poll() is None:
            proc.send_signal(sig)
            tally["signals"] += 1
        code = proc.wait(timeout=120)
        assert code in (0, 130, -9), proc.stderr.read().decode()[-2000:]
        if sig == signal.SIGTERM and code == 130:  # the way out of SIGTERM removed the private copy
            assert not (out / "private-copies").exists() or not any((out / "private-copies").iterdir())
        resumed = cli("audit", uri, "--out", out, "--resume", *args) if (out / "results.jsonl").exists() else \
            cli("audit", uri, "--out", out, *args)
        assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()[-2000:]
        tally["resumes"] += 1
        got = records(out)
        assert {(r["id"], r["text"]) for r in got} == want and len(got) == len(TEXTS)
        assert json.loads((out / "summary.json").read_text())["status"] == "complete"
        assert not (out / "private-copies").exists()
    assert state() == before, "an interrupted and resumed audit changed the store"
    assert tally["resumes"] == 3


@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", ["faiss", "lancedb", "qdrant", "pgvector", "milvus"])
def test_sigterm_at_a_random_point_then_resume_leaves_every_other_store_unchanged_byte_for_byte(
        kind, tmp_path, tiny_run, tiny_inverter, vectors, request):
    """The read-only proof across an interrupted and resumed audit, for each store besides Chroma (whose
    kill -9 runs are above): one SIGTERM at a seeded random point of `unembed audit`, a resume, then the
    records of an uninterrupted run (made in-process on the same store, both in fp32), status "complete",
    no private copy left, and the store's files (pgvector: its rows and tables) unchanged."""
    pg = request.getfixturevalue("pg") if kind == "pgvector" else None
    uri, state = build(kind, tmp_path / "store", vectors, pg=pg)
    before = state()
    audit(uri, tiny_inverter, tmp_path / "ref", steps=0, beam=1, batch_size=2)
    want = {(r["id"], r["original"], r["text"]) for r in records(tmp_path / "ref")}
    assert len(want) == len(TEXTS)

    args = ["--inverter", tiny_run, "--steps", 0, "--beam", 1, "--batch-size", 2, "--no-advice", "--precision", "fp32"]
    rng = random.Random(kind)
    out = tmp_path / "run"
    proc = cli("audit", uri, "--out", out, *args)
    wait_for_records(out, proc, rng.randint(0, len(TEXTS) - 2))
    time.sleep(rng.uniform(0, 0.2))
    signalled = proc.poll() is None
    if signalled:
        proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=120)
    err = proc.stderr.read().decode()
    assert code in ((130, 0) if signalled else (0,)), err[-2000:]
    if code == 130:  # one line, and the way out removed any private copy at once
        assert "Traceback" not in err and "interrupted" in err.strip().splitlines()[-1]
        assert not (out / "private-copies").exists() or not any((out / "private-copies").iterdir())
    again = ["--resume"] if (out / "results.jsonl").exists() else []
    resumed = cli("audit", uri, "--out", out, *again, *args)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()[-2000:]
    got = records(out)
    assert {(r["id"], r["original"], r["text"]) for r in got} == want and len(got) == len(TEXTS)
    assert json.loads((out / "summary.json").read_text())["status"] == "complete"
    assert not (out / "private-copies").exists()
    assert half_written(out) == []
    assert state() == before, f"an interrupted and resumed audit changed the {kind} store"
