"""Audits at scale (issue #14): seeded samples that read only the sampled rows, 95% intervals,
bounded-memory tallies, sharding over 2 gloo processes (audit, eval, corrector data) equal to one
process, domain adaptation, and the defences section."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_stores import IDS, KINDS, TEXTS, build
from unembed.audit import Audit, audit
from unembed.audit.adapt import AdaptConfig, fold_of
from unembed.audit.advice import AdviceConfig, split_query
from unembed.audit.aggregate import Tally
from unembed.audit.intervals import bootstrap_mean, mean_interval, n_for_mean, n_for_proportion, wilson
from unembed.audit.sampling import id_keys, sample_positions
from unembed.audit.shards import merge
from unembed.audit.stores import open_store
from unembed.errors import InputError

PY = sys.executable


def read(out: Path, name: str = "results.jsonl") -> list[dict]:
    return [json.loads(line) for line in (out / name).read_text().splitlines()]


# --------------------------------------------------------------------------------------------------
# Samples, intervals, tallies, merges
# --------------------------------------------------------------------------------------------------


def test_samples_are_seeded_nested_and_uniform():
    a = sample_positions(1000, 50, seed=4)
    assert len(a) == 50 and list(a) == sorted(set(a.tolist())) and a.max() < 1000
    assert np.array_equal(a, sample_positions(1000, 50, seed=4))
    assert set(a) <= set(sample_positions(1000, 80, seed=4).tolist())  # a larger sample extends it
    assert set(a) != set(sample_positions(1000, 50, seed=5).tolist())
    # every position is equally likely: inclusion counts over 400 seeds, 10 of 40 each time
    counts = np.zeros(40)
    for seed in range(400):
        counts[sample_positions(40, 10, seed)] += 1
    expected = 400 * 10 / 40
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 80, chi2  # 39 degrees of freedom: p < 1e-4 above 80
    ids = [f"doc-{i}" for i in range(100)]
    k1, k2 = id_keys(ids, 1), id_keys(ids, 1)
    assert np.array_equal(k1, k2) and not np.array_equal(k1, id_keys(ids, 2))


def test_intervals_known_values_and_population_correction():
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert wilson(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    assert wilson(3, 10, population=10) == (0.3, 0.3)  # the whole population: no uncertainty
    assert wilson(30, 100, population=200)[1] - wilson(30, 100, population=200)[0] < wilson(30, 100)[1] - wilson(30, 100)[0]
    assert n_for_proportion(0.5, 0.05) == 385 and n_for_proportion(0.5, 0.05, population=1000) == 278
    assert n_for_mean(10.0, 1.0) == 385
    x = np.random.default_rng(0).normal(50, 10, 400)
    lo, hi = bootstrap_mean(x, seed=1)
    assert lo < x.mean() < hi and (hi - lo) == pytest.approx(2 * 1.96 * 10 / 20, rel=0.15)
    assert bootstrap_mean(x, seed=1) == bootstrap_mean(x, seed=1)
    assert bootstrap_mean(x, population=400) == (x.mean(), x.mean())
    # a skewed figure (most records near 0, a few high, like BLEU): BCa reaches further up than down
    y = np.concatenate([np.zeros(45), np.full(5, 60.0)])
    lo, hi = bootstrap_mean(y, seed=1)
    assert lo < y.mean() < hi and hi - y.mean() > y.mean() - lo
    assert "less often than 95%" in mean_interval(y, None, [1.0])["method"]
    assert "less often" not in mean_interval(x, None, [1.0])["method"]


def test_tally_is_bounded_and_exact():
    t = Tally(kinds=("name",), keep=100, rows=5, plot=50)
    rng = np.random.default_rng(0)
    cos = rng.uniform(0, 1, 5000)
    for i, c in enumerate(cos):
        t.add({"id": str(i), "cosine": float(c), "original": "Alice", "bleu": 10.0 * (i % 2), "token_f1": 50.0,
               "exact_match": i % 4 == 0, "sensitive": [{"kind": "name", "text": "Alice", "recovered": i % 10 == 0}]})
    assert len(t.top()) == 5 and [r["cosine"] for r in t.top()] == sorted(cos, reverse=True)[:5]
    assert len(t.plot_records()) == 50 and len(t._values) == 100
    s = t.summary()
    assert s["n"] == 5000 and s["bleu"] == pytest.approx(5.0) and s["exact_match"] == pytest.approx(25.0)
    assert s["sensitive"]["name"] == {"found": 5000, "recovered": 500, "rate": 0.1, "partial": 0}
    iv = t.intervals(population=1_000_000, random=True)
    em = iv["figures"]["exact_match"]
    assert em["low"] < 25 < em["high"] and em["store_estimate"]["records"] == pytest.approx(250_000)
    name = iv["figures"]["sensitive"]["name"]["records_leaking"]
    assert name["estimate"] == pytest.approx(10.0) and name["n_for"]["1"] > 3000
    assert "not a random sample" in t.intervals(population=10_000, random=False)["note"]


def test_merge_orders_by_position_and_drops_repeats(tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    a.write_text("".join(json.dumps({"id": f"r{p}", "pos": p}) + "\n" for p in (0, 3, 4)))
    b.write_text("".join(json.dumps({"id": f"r{p}", "pos": p}) + "\n" for p in (1, 2, 4, 9)))
    c.write_text("".join(json.dumps({"id": f"r{p}", "pos": p}) + "\n" for p in (7, 5)))  # out of order
    assert merge([a, b], a) == 6
    assert [r["pos"] for r in map(json.loads, a.read_text().splitlines())] == [0, 1, 2, 3, 4, 9]
    assert merge([a, c], a) == 8
    assert [r["pos"] for r in map(json.loads, a.read_text().splitlines())] == [0, 1, 2, 3, 4, 5, 7, 9]


@pytest.mark.parametrize("kind", KINDS)
def test_readers_read_only_the_asked_rows(kind, tmp_path, vectors, request):
    pg_srv = request.getfixturevalue("pg") if kind == "pgvector" else None
    uri, state = build(kind, tmp_path, vectors, pg=pg_srv)
    before = state()
    with open_store(uri) as r:
        scanned = [x for b in r.batches(5) for x in zip(b.ids, b.vectors, b.documents)]
        by_id = {i: (v, d) for i, v, d in scanned}
        ids = [i for page in r.ids(5) for i in page]
        assert sorted(ids) == sorted(by_id)
        if kind != "pgvector":  # pgvector lists keys in key order, the others in reading order
            assert ids == [i for i, _, _ in scanned]
        pick = [ids[k] for k in (7, 2, 11)]
        got = [x for b in r.fetch(pick, 2) for x in zip(b.ids, b.vectors, b.documents)]
        assert [g[0] for g in got] == pick
        for i, v, d in got:
            assert np.allclose(v, by_id[i][0]) and d == by_id[i][1]
        at = [x[0] for b in r.read_positions([1, 4, 9], 2) for x in zip(b.ids, b.vectors)]
        assert at == [scanned[p][0] for p in (1, 4, 9)]
        assert r.positional == (kind in ("faiss", "lancedb"))
        assert kind in ("faiss", "lancedb") or r.fetch_method == "ids"
    assert state() == before


# --------------------------------------------------------------------------------------------------
# Sampled audits
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lancedb", "chroma"])
def test_sampled_audit_has_intervals_and_resume_extends_it(kind, tmp_path, tiny_inverter, vectors):
    uri, _ = build(kind, tmp_path / "store", vectors)
    out = tmp_path / "a"
    s = audit(uri, tiny_inverter, out, steps=0, beam=1, sample=6, seed=2, batch_size=4)
    first = read(out)
    assert s["n"] == 6 and s["sampling"]["method"] == ("positions" if kind == "lancedb" else "ids")
    assert [r["pos"] for r in first] == sorted(r["pos"] for r in first)
    figs = s["intervals"]["figures"]
    for key in ("bleu", "token_f1", "cosine", "exact_match"):
        f = figs[key]
        assert f["low"] <= f["estimate"] <= f["high"] and f["n_for"], key
    name = figs["sensitive"]["name"]
    assert name["store_estimate"]["of"] == len(TEXTS) and 0 <= name["store_estimate"]["low"] <= name["store_estimate"]["high"] <= 12
    html = (out / "report.html").read_text()
    assert "How sure: 6 of 12 records" in html and "For the whole store" in html
    # the same seed gives the same sample; resume with a larger sample inverts only the new records
    audit(uri, tiny_inverter, tmp_path / "b", steps=0, beam=1, sample=6, seed=2)
    assert [r["id"] for r in read(tmp_path / "b")] == [r["id"] for r in first]
    lines = (out / "results.jsonl").read_text().splitlines()
    marked = [json.dumps({**json.loads(line), "text": "KEPT"}) for line in lines]
    (out / "results.jsonl").write_text("\n".join(marked) + "\n")  # proves they are not redone
    with pytest.raises(InputError, match="sample=6, not 4"):
        Audit(uri, tiny_inverter, out, steps=0, beam=1, sample=4, seed=2, resume=True)
    with Audit(uri, tiny_inverter, out, steps=0, beam=1, sample=9, seed=2, batch_size=4, resume=True) as job:
        assert job.todo == 3
        s9 = job.run()
    recs = read(out)
    assert s9["n"] == 9 and sum(r["text"] == "KEPT" for r in recs) == 6
    assert {r["id"] for r in first} <= {r["id"] for r in recs}
    assert [r["pos"] for r in recs] == sorted(r["pos"] for r in recs)
    fresh = audit(uri, tiny_inverter, tmp_path / "c", steps=0, beam=1, sample=9, seed=2)
    assert [r["id"] for r in read(tmp_path / "c")] == [r["id"] for r in recs] and fresh["n"] == 9


def test_full_audit_knows_its_figures(tmp_path, tiny_inverter, vectors):
    uri, _ = build("faiss", tmp_path, vectors)
    s = audit(uri, tiny_inverter, tmp_path / "a", steps=0, beam=1)
    assert "every record was audited" in s["intervals"]["note"]
    assert s["intervals"]["figures"]["bleu"]["low"] == s["intervals"]["figures"]["bleu"]["high"] == pytest.approx(s["bleu"])
    s = audit(uri, tiny_inverter, tmp_path / "b", steps=0, beam=1, limit=5)
    assert "not a random sample" in s["intervals"]["note"] and "figures" not in s["intervals"]


# --------------------------------------------------------------------------------------------------
# Sharding over 2 gloo processes
# --------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args, procs: int = 2, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    cmd = [PY, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(procs),
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=cwd)
    assert p.returncode == 0, (p.stdout[-3000:], p.stderr[-3000:])
    return p


def test_sharded_audit_equals_one_process_and_resumes_per_shard(tmp_path, tiny_run, vectors):
    uri, state = build("chroma", tmp_path / "store", vectors)
    before = state()
    common = ["--inverter", tiny_run, "--steps", 1, "--beam", 2, "--batch-size", 3, "--no-advice", "--json"]
    one = torchrun("-m", "unembed", "audit", uri, *common, "--out", tmp_path / "one", procs=1)
    two = torchrun("-m", "unembed", "audit", uri, *common, "--out", tmp_path / "two")
    assert (tmp_path / "one" / "results.jsonl").read_bytes() == (tmp_path / "two" / "results.jsonl").read_bytes()
    s1, s2 = json.loads(one.stdout), json.loads(two.stdout)  # only the main process prints
    assert s1["n"] == s2["n"] == len(TEXTS) and s2["throughput"]["processes"] == 2
    assert {k: s1[k] for k in ("bleu", "token_f1", "sensitive")} == {k: s2[k] for k in ("bleu", "token_f1", "sensitive")}
    assert not (tmp_path / "two" / "shards").exists() and state() == before
    # an interrupted sharded audit: each rank's shard holds some records; --resume inverts only the rest
    recs = read(tmp_path / "one")
    out = tmp_path / "three"
    (out / "shards").mkdir(parents=True)
    shutil.copy(tmp_path / "one" / "run.json", out / "run.json")  # what the interrupted run wrote before any record
    for rank, keep in ((0, recs[0:3]), (1, recs[3:6])):  # chunks 0 and 1, as ranks 0 and 1 write them
        (out / "shards" / f"results.rank-{rank:03d}-of-002.jsonl").write_text(
            "".join(json.dumps({**r, "text": "KEPT"}) + "\n" for r in keep))
    (out / "shards" / "results.rank-001-of-002.jsonl").open("a").write('{"id": "doc-9", "te')  # a cut line
    torchrun("-m", "unembed", "audit", uri, *common, "--out", out, "--resume")
    merged = read(out)
    assert [r["id"] for r in merged] == [r["id"] for r in recs]
    assert [r["text"] for r in merged[:6]] == ["KEPT"] * 6 and merged[6:] == recs[6:]


SHARDED_SCRIPT = r'''
import json, sys
import numpy as np
from unembed import load_embedder, load_inverter
from unembed.distributed import context
from unembed.inversion.evaluate import evaluate
from unembed.inversion.training import TrainConfig
from unembed.inversion.training.pipeline import Trainer, TrainData

run, texts_file, out = sys.argv[1:4]
emb = load_embedder("minilm")
inv = load_inverter(run, embedder=emb, precision="fp32")
texts = [t for t in open(texts_file).read().splitlines() if t]
res = evaluate(inv, texts, steps=1, beam=2, batch_size=3)
vecs = emb.embed(texts)
cfg = TrainConfig(out=out + "/train", embedder=emb.name, corpus="test", max_tokens=inv.max_tokens, start_from=inv.model_id,
                  batch_size=4, hypothesizer_steps=1, corrector_steps=1, corrector_examples=len(texts),
                  n_validation=0, n_test=0, eval_every=0, mixed_precision="no")
trainer = Trainer(cfg, resume=True, embedder=emb, start=inv, data=TrainData(texts, vecs, [], vecs[:0]))
targets, hyps, hvecs, tvecs = trainer.corrector_data(inv.hypothesizer, None, texts, vecs, 0, chunk=4)
if context().main:
    json.dump({"eval": {k: res.to_dict()[k] for k in ("bleu", "token_f1", "exact_match", "cosine", "n", "examples")},
               "predictions": [r.text for r in res.results], "targets": targets, "hyps": hyps,
               "hvecs": np.round(hvecs.astype(float), 5).tolist()}, open(out + "/out.json", "w"))
'''


def test_sharded_eval_and_corrector_data_equal_one_process(tmp_path, tiny_run):
    script = tmp_path / "sharded.py"
    script.write_text(SHARDED_SCRIPT)
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS[:11]) + "\n")  # 11 texts: blocks of 3 shared unevenly
    for name, procs in (("one", 1), ("two", 2)):
        (tmp_path / name).mkdir()
        torchrun(script, tiny_run, texts, tmp_path / name, procs=procs)
    one, two = (json.loads((tmp_path / n / "out.json").read_text()) for n in ("one", "two"))
    assert one["eval"]["n"] == 11 and one == two
    assert set(one["targets"]) == set(TEXTS[:11]) and len(one["hyps"]) == len(one["targets"]) >= 11
    parts = sorted(p.name for p in (tmp_path / "two" / "train" / "corrector_data").iterdir())
    # one part per chunk of the round, each written by the process that owns it; the main process
    # adds the corrupted copies of targets (corrupt_fraction) once
    assert parts == ["corrupt.npz"] + [f"round0.part{i:05d}.npz" for i in range(3)]


# --------------------------------------------------------------------------------------------------
# Domain adaptation and the defences section
# --------------------------------------------------------------------------------------------------


ADAPT = dict(folds=2, texts=8, hypothesizer_steps=2, corrector_steps=1, batch_size=4, mixed_precision="no")


def test_adapted_attacker_k_fold(tmp_path, tiny_inverter, vectors):
    uri, _ = build("lancedb", tmp_path / "store", vectors)
    out = tmp_path / "a"
    s = audit(uri, tiny_inverter, out, steps=1, beam=1, sample=8, seed=1, batch_size=4, adapt=AdaptConfig(**ADAPT))
    stock, adapted = read(out), read(out, "adapted.jsonl")
    assert [r["id"] for r in adapted] == [r["id"] for r in stock]
    a = s["adapted"]
    assert a["status"] == "complete" and a["stock"]["n"] == a["adapted"]["n"] == 8
    assert a["stock"]["bleu"] == pytest.approx(s["bleu"]) and 0 <= a["adapted"]["bleu"] <= 100
    assert sorted(p.name for p in (out / "adapt").iterdir()) == ["fold-0", "fold-1"]
    folds = fold_of(IDS, 2, 1)
    assert 0 < folds.sum() < len(IDS)  # both folds hold records
    assert "A domain-adapted attacker" in (out / "report.html").read_text()


def test_adapt_corpus_for_a_store_without_documents(tmp_path, tiny_inverter, vectors):
    uri, _ = build("faiss", tmp_path, vectors, with_texts=False)
    with pytest.raises(InputError, match="--adapt-corpus"):
        audit(uri, tiny_inverter, tmp_path / "a", steps=0, beam=1, adapt=AdaptConfig(**ADAPT))
    corpus = tmp_path / "public.txt"
    corpus.write_text("\n".join(TEXTS[::2]) + "\n")
    s = audit(uri, tiny_inverter, tmp_path / "b", steps=0, beam=1, adapt=AdaptConfig(**ADAPT, corpus=str(corpus)))
    assert s["adapted"]["adapted"]["n"] == len(TEXTS) and "public text" in s["adapted"]["how"]


def test_split_query():
    assert split_query("Refunds take five days. Call us if not. Thanks!") == ("Refunds take five days.",
                                                                            "Call us if not. Thanks!")
    assert split_query("Alice lives in Paris and works as a baker.") == ("Alice lives in Paris", "and works as a baker.")
    assert split_query("Too short.") is None


def test_advice_measures_defences_on_the_store(tmp_path, tiny_inverter, vectors):
    uri, _ = build("qdrant", tmp_path / "store", vectors)
    out = tmp_path / "a"
    cfg = AdviceConfig(defences="noise:0.1,rotate:7,pq:16x8", records=6, leaked_pairs=6, steps=0, beam=1)
    s = audit(uri, tiny_inverter, out, steps=0, beam=1, advise=cfg)
    adv = json.loads((out / "advice.json").read_text())
    assert adv == s["advice"] and adv["records"] == 6 and adv["queries"] == len(TEXTS)
    by = {d["defence"]: d for d in adv["defences"]}
    assert list(by) == ["none", "noise:0.1", "rotate:7", "pq:16x8"]
    assert "needs at least 256 vectors" in by["pq:16x8"]["error"]  # a 12-record store cannot fit it
    assert by["none"]["ndcg_at_10"] > 0.5 and by["none"]["ndcg_cost"] == 0
    assert by["rotate:7"]["ndcg_at_10"] == pytest.approx(by["none"]["ndcg_at_10"])  # a rotation keeps cosines
    assert by["rotate:7"]["attacks"] and "least-squares" in by["rotate:7"]["attacker"]
    assert adv["recommendation"]["text"]
    html = (out / "report.html").read_text()
    assert html.rindex("What to do about it") > html.rindex("Method")  # the report ends with it
