"""Defences: each transform's defining property, spec parsing and errors, retrieval metrics, the
attackers and the recommendation; then the `defend` command end to end through the real CLI entry
point with the tiny inverter, and its report in headless Chromium."""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from unembed import defences
from unembed.defences.measure import (DefendConfig, Defender, least_squares_map, pareto_front, recommend, retrieval_scores,
                            retrieval_set)
from conftest import half_written
from unembed.errors import InputError

UNEMBED = shutil.which("unembed", path=str(Path(sys.executable).parent)) or "unembed"


def unit_rows(n=500, d=48, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Each transform's property
# --------------------------------------------------------------------------------------------------


def test_rotation_preserves_inner_products_and_depends_on_the_seed():
    x, y = unit_rows(50, 64, 1), unit_rows(30, 64, 2)
    rot = defences.get("rotate", seed=7)
    q = rot.matrix(64)
    assert np.allclose(q @ q.T, np.eye(64), atol=1e-10)
    assert np.allclose(rot(x) @ rot.queries(y).T, x @ y.T, atol=1e-5)
    assert np.allclose(np.linalg.norm(rot(x), axis=1), 1.0, atol=1e-5)
    assert not np.allclose(rot(x), x, atol=0.1)
    assert np.array_equal(defences.parse("rotate:7")(x), rot(x))
    assert not np.allclose(defences.parse("rotate:8")(x), rot(x), atol=0.1)


def test_int8_round_trip_error_within_half_a_step():
    fit, x = unit_rows(400, 32, 3), unit_rows(200, 32, 4)
    d = defences.get("int8").fit(fit)
    inside = np.clip(x, d.lo, d.lo + 255 * d.step)  # values inside the fitted ranges
    err = np.abs(d(inside).astype(np.float64) - inside)
    assert (err <= d.step / 2 + 1e-6).all()
    assert d.codes(inside).dtype == np.uint8
    # outside the fitted range a value is clipped to it
    far = np.full((1, 32), 10.0, np.float32)
    assert np.allclose(d(far)[0], d.lo + 255 * d.step, atol=1e-6)
    assert 0 < d.details()["relative_l2_error_fit"] < 0.02


def test_binary_is_one_bit_a_dimension_and_hamming_search():
    x, q = unit_rows(40, 64, 5), unit_rows(10, 64, 6)
    b = defences.get("binary")
    bx, bq = b(x), b.queries(q)
    assert set(np.unique(np.abs(bx) * 8).round(6)) == {1.0}  # +-1/sqrt(64)
    assert (np.sign(bx) == np.where(x >= 0, 1, -1)).all()
    hamming = (np.sign(bq)[:, None, :] != np.sign(bx)[None, :, :]).sum(-1)
    assert np.allclose(bq @ bx.T, 1 - 2 * hamming / 64, atol=1e-6)


def test_product_quantization_reports_its_reconstruction_error():
    pytest.importorskip("faiss")
    fit, x = unit_rows(600, 32, 7), unit_rows(200, 32, 8)
    errors = {}
    for bits in (2, 4, 6):
        pq = defences.parse(f"pq:8x{bits}").fit(fit)
        reported = pq.details()["relative_l2_error_fit"]
        assert reported == pytest.approx(defences.relative_error(fit, pq(fit)), rel=1e-5)
        errors[bits] = defences.relative_error(x, pq(x))
        assert 0 < errors[bits] < 1
        assert np.array_equal(pq(x), pq(x))  # deterministic codes
        assert np.array_equal(pq.queries(x), x)  # asymmetric distance: queries stay exact
    assert errors[2] > errors[4] > errors[6]
    assert "note" in defences.parse("pq:8x6").fit(fit).details()  # 600 < 39 x 64 points: said so
    with pytest.raises(InputError, match="at least 256 vectors"):
        defences.parse("pq:8x8").fit(fit[:100])
    with pytest.raises(InputError, match="not divisible"):
        defences.parse("pq:5x4").fit(fit)


def test_product_quantization_error_on_real_minilm_vectors(minilm):
    pytest.importorskip("faiss")
    from conftest import template_sentences

    vecs = minilm.embed(template_sentences(400, seed=1))
    pq = defences.parse("pq:16x8").fit(vecs)
    int8 = defences.parse("int8").fit(vecs)
    # reported, and of the order the field reports (about 0.28 for PQ 16x8, 0.008 for int8)
    assert 0.0 <= pq.details()["relative_l2_error_fit"] < 0.5
    assert int8.details()["relative_l2_error_fit"] < 0.02


def test_ldp_laplace_scale_matches_epsilon():
    d, eps = 64, 8.0
    x = unit_rows(4000, d, 9)
    ldp = defences.get("ldp", epsilon=eps, seed=3)
    b = 2 * math.sqrt(d) / eps  # sensitivity 2C, C = sqrt(d): unit vectors pass unclipped
    assert ldp.laplace_scale(d) == pytest.approx(b) and ldp.sensitivity(d) == pytest.approx(2 * math.sqrt(d))
    noise = ldp(x).astype(np.float64) - x
    # Laplace(0, b): E|n| = b and the median of |n| is b ln 2, over 256,000 draws
    assert np.abs(noise).mean() == pytest.approx(b, rel=0.01)
    assert np.median(np.abs(noise)) == pytest.approx(b * math.log(2), rel=0.015)
    assert abs(noise.mean()) < 0.01 * b
    # a stricter epsilon means proportionally more noise
    noise4 = defences.parse("ldp:4")(x).astype(np.float64) - x
    assert np.abs(noise4).mean() == pytest.approx(2 * b, rel=0.01)
    # clipping: a vector of L1 norm above C is scaled down to exactly C, and the noise follows 2C
    clip = defences.get("ldp", epsilon=1.0, clip=2.0)
    big = np.full((1, d), 1.0)
    assert np.abs(clip.clipped(big)).sum() == pytest.approx(2.0)
    assert clip.laplace_scale(d) == pytest.approx(4.0)
    assert np.allclose(ldp.attacker_view(x), x, atol=1e-6)  # its expectation, for unit vectors


def test_mask_zeroes_exactly_the_chosen_dimensions():
    x = unit_rows(20, 40, 10) + 0.5  # no zero entries to begin with
    m = defences.parse("mask:0.25")
    dims = m.dims(40)
    assert len(dims) == 10 and len(set(dims.tolist())) == 10
    y = m(x)
    zero_cols = np.flatnonzero((y == 0).all(axis=0))
    assert zero_cols.tolist() == dims.tolist()
    keep = np.setdiff1d(np.arange(40), dims)
    assert np.array_equal(y[:, keep], x[:, keep])
    assert np.array_equal(m.queries(x), y)
    assert np.array_equal(defences.get("mask", fraction=0.25, seed=1).dims(40), defences.get("mask", fraction=0.25, seed=1).dims(40))
    assert not np.array_equal(defences.get("mask", fraction=0.25, seed=1).dims(40), dims)
    assert len(defences.parse("mask:0").dims(40)) == 0


def test_pca_keeps_the_top_k_variance():
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((800, 24)) * np.linspace(3, 0.1, 24)) @ defences.haar_orthogonal(24, 1)
    k = 5
    pca = defences.parse(f"pca:{k}").fit(x)
    eig = np.sort(np.linalg.eigvalsh(np.cov(x.T, bias=True)))[::-1]
    kept = ((pca(x) - x.mean(0)) ** 2).sum(1).mean()
    assert kept == pytest.approx(eig[:k].sum(), rel=1e-4)
    assert pca.details()["explained_variance_fit"] == pytest.approx(eig[:k].sum() / eig.sum(), rel=1e-4)
    # no other k-dimensional projection keeps more
    basis, _ = np.linalg.qr(rng.standard_normal((24, k)))
    other = ((x - x.mean(0)) @ basis) @ basis.T
    assert (other ** 2).sum(1).mean() < kept
    assert np.allclose(defences.parse("pca:24").fit(x)(x), x, atol=1e-4)  # k = d keeps everything
    with pytest.raises(InputError, match="more than the dimension"):
        defences.parse("pca:25").fit(x)


def test_noise_has_the_scale_asked_for():
    x = unit_rows(2000, 64, 12)
    n = defences.get("noise", scale=0.01)(x).astype(np.float64) - x
    assert n.std() == pytest.approx(0.01, rel=0.01) and abs(n.mean()) < 1e-4
    assert np.array_equal(defences.parse("noise:0.01")(x), defences.parse("noise:0.01")(x))  # seeded
    assert np.array_equal(defences.parse("noise:0")(x), x)


# --------------------------------------------------------------------------------------------------
# Names, parameters, errors
# --------------------------------------------------------------------------------------------------


def test_specs_round_trip_and_get_returns_a_callable():
    specs = ["none", "noise:0.01", "mask:0.5", "rotate:7", "int8", "binary", "pq:16x8", "pca:128", "ldp:8"]
    assert [d.spec for d in defences.parse_list(",".join(specs))] == specs
    assert [d.spec for d in defences.parse_list(["noise:0.001,noise:0.1", "int8"])] == ["noise:0.001", "noise:0.1", "int8"]
    noise = defences.get("noise", scale=0.01)
    assert callable(noise) and noise(np.zeros((3, 8))).shape == (3, 8)
    assert defences.get("pq", m=16, nbits=8).spec == "pq:16x8"


@pytest.mark.parametrize("spec, message", [
    ("blur:3", "unknown defence 'blur:3'"),
    ("noise:abc", "bad parameter in 'noise:abc'"),
    ("noise", "needs a parameter"),
    ("noise:-1", "must be a finite number >= 0"),
    ("mask:1.5", "in [0, 1)"),
    ("pq:16", "write it as pq:MxBITS"),
    ("pq:16x20", "at most 16 bits"),
    ("pca:0", "integer >= 1"),
    ("ldp:0", "epsilon must be > 0"),
    ("int8:4", "takes no parameter"),
    ("rotate:x", "write it as rotate:SEED"),
    ("noise:0.1,noise:0.1", "listed twice"),
    ("", "no defence given"),
])
def test_bad_specs_are_one_line_input_errors(spec, message):
    with pytest.raises(InputError) as e:
        defences.parse_list(spec)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_get_refuses_unknown_names_and_parameters_and_unfitted_or_wrong_dimension_use():
    with pytest.raises(InputError, match="unknown defence 'blur'"):
        defences.get("blur")
    with pytest.raises(InputError, match="has no parameter sigma"):
        defences.get("noise", sigma=1)
    with pytest.raises(InputError, match="needs its parameter"):
        defences.get("pca")
    with pytest.raises(InputError, match="fitted on a corpus sample first"):
        defences.get("pca", k=4)(np.zeros((2, 8)))
    pca = defences.get("pca", k=4).fit(unit_rows(50, 8))
    with pytest.raises(InputError, match="dimension 9"):
        pca(np.zeros((2, 9)))
    with pytest.raises(InputError, match="NaN"):
        defences.get("noise", scale=0.1)(np.full((2, 8), np.nan))


def test_a_defence_registered_in_one_file_is_known_everywhere():
    import toy_defence  # noqa: F401  (registers halve)
    from typer.testing import CliRunner

    from unembed.cli import app
    from unembed.defences.report import utility_leakage_figure

    x = unit_rows(10, 16, 14)
    halve = defences.parse("halve")
    assert isinstance(halve, toy_defence.Halve) and halve.spec == "halve" and np.allclose(halve(x), x / 2)
    assert np.array_equal(halve.queries(x), x) and halve.describe() == "every vector halved"
    assert [d.spec for d in defences.parse_list("noise:0.1,halve")] == ["noise:0.1", "halve"]
    assert isinstance(defences.get("halve"), toy_defence.Halve)
    assert "halve" in defences.NAMES and "halve" in defences.SPEC_FORMS and defences.colour("halve") == "#123456"
    with pytest.raises(InputError, match="takes no parameter"):
        defences.parse("halve:2")
    with pytest.raises(InputError, match="unknown defence 'blur'.*halve"):
        defences.get("blur")
    help_text = CliRunner().invoke(app, ["defend", "--help"], env={"COLUMNS": "200"}).output
    assert "ldp:EPSILON, halve" in help_text
    with pytest.raises(ValueError, match="two defences are named 'halve'"):
        defences.register(type("Halve2", (toy_defence.Halve,), {}))
    recs = [dict(record("halve", "halve", 0.4, 50.0), leakage_for_decision=50.0, pareto=True)]
    fig = utility_leakage_figure(recs, threshold=10)
    assert fig.axes[0].lines[0].get_color() == "#123456"


# --------------------------------------------------------------------------------------------------
# Retrieval metrics, attackers, decision
# --------------------------------------------------------------------------------------------------


def test_recall_and_ndcg_at_10_by_hand():
    passages = np.eye(12)
    # the query is closest to passages 0, 1, 2, ... in that order
    q = np.array([[12 - i for i in range(12)]], float)
    s = retrieval_scores(q, passages, [[2]])
    assert s["recall_at_10"] == 1.0 and s["ndcg_at_10"] == pytest.approx(1 / math.log2(4))
    s = retrieval_scores(q, passages, [[0, 11]])  # one of two relevant passages in the top 10
    assert s["recall_at_10"] == 0.5 and s["ndcg_at_10"] == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_least_squares_recovers_a_rotation_from_enough_leaked_pairs():
    x = unit_rows(300, 32, 13)
    rot = defences.get("rotate", seed=5)
    w = least_squares_map(rot(x[:40]), x[:40])  # 40 >= d pairs: exact
    assert np.allclose(rot(x[40:]) @ w, x[40:], atol=1e-4)
    w10 = least_squares_map(rot(x[:10]), x[:10])  # fewer pairs than dimensions: only partly
    err = np.linalg.norm(rot(x[40:]) @ w10 - x[40:], axis=1).mean()
    assert 0.3 < err < 1.0


def record(name, family, ndcg, na, ad=None, attacks=()):
    leak = {"bleu": na, "token_f1": 0.0, "exact_match": 0.0, "cosine": 0.0}
    adaptive = dict(leak, bleu=ad) if ad is not None else dict(leak, bleu=None)
    return {"defence": name, "family": family, "strength": 0.0, "ndcg_at_10": ndcg, "recall_at_10": ndcg,
            "leakage": {"non_adaptive": leak, "adaptive": adaptive}, "attacks": list(attacks)}


def test_recommendation_is_the_cheapest_below_threshold_against_every_attacker():
    recs = [record("none", "none", 0.40, 60, 60),
            record("noise:0.01", "noise", 0.39, 8, 25, [{"bleu": 25}]),  # beaten by the adaptive attacker
            record("pq:16x8", "pq", 0.35, 6, 9, [{"bleu": 9}]),
            record("noise:0.1", "noise", 0.10, 1, 2, [{"bleu": 2}]),
            record("pca:8", "pca", 0.30, 5, 9.5, [{"bleu": 9.5}])]
    rec = recommend(recs, threshold=10)
    assert rec["defence"] == "pq:16x8" and rec["cost_ndcg_at_10"] == pytest.approx(0.05)
    assert [r["defence"] for r in recs if r["recommended"]] == ["pq:16x8"]
    assert [r["pareto"] for r in recs] == [True, True, True, True, False]
    assert recommend(recs, threshold=1)["defence"] is None
    assert "No defence" in recommend(recs, threshold=1)["text"]
    assert pareto_front([(1, 1), (1, 1)]) == [True, True]


def test_retrieval_set_from_the_corpus_packages():
    rs = retrieval_set(n_queries=25, n_passages=80, seed=0)
    assert len(rs.queries) == 25 and len(rs.passages) == 80 and len(rs.relevant) == 25
    assert all(rs.relevant) and all(0 <= j < 80 for rel in rs.relevant for j in rel)
    assert not any("http" in q for q in rs.queries)
    assert rs.info["relevant_passages"] + rs.info["distractors"] == 80
    again = retrieval_set(n_queries=25, n_passages=80, seed=0)
    assert again.queries == rs.queries and again.digest == rs.digest
    assert retrieval_set(n_queries=25, n_passages=80, seed=1).digest != rs.digest


# --------------------------------------------------------------------------------------------------
# The adaptive attacker in-process, and the command end to end
# --------------------------------------------------------------------------------------------------


def small_config(out, **kw):
    base = dict(out=str(out), defences="int8,rotate:3", n_texts=4, steps=1, beam=1, n_queries=12, n_passages=40,
                fit_texts=200, adaptive_steps=3, adaptive_corrector_steps=2, adaptive_texts=48, adaptive_batch_size=8,
                leaked_pairs=(5, 40), mixed_precision="no")
    base.update(kw)
    return DefendConfig(**base)


def test_adaptive_attacker_is_fine_tuned_and_the_clean_inverter_untouched(tmp_path, tiny_inverter):
    import torch

    before = {k: v.clone() for k, v in tiny_inverter.hypothesizer.state_dict().items()}
    job = Defender(tiny_inverter, small_config(tmp_path / "d"))
    job.prepare()
    d = defences.parse("int8").fit(job.pool_x)
    attacker, work, label = job.adaptive_attacker(d)
    changed = [k for k, v in attacker.hypothesizer.state_dict().items() if not torch.equal(v.cpu(), before[k].cpu())]
    assert changed and "3 steps" in label and "corrector 2 steps" in label and "defended space" in label
    assert attacker.corrector is not tiny_inverter.corrector
    for k, v in tiny_inverter.hypothesizer.state_dict().items():
        assert torch.equal(v, before[k]), k
    # it ranks candidates in the defended space: its embedder returns int8 reconstructions
    v = attacker.embedder.embed(["Alice lives in Paris and works as a baker."])
    assert np.allclose(v, d(job.embedder.embed(["Alice lives in Paris and works as a baker."])))
    assert (work / "checkpoints" / "hypothesizer" / "done.json").exists()


def run_cli(*args, code=0):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    p = subprocess.run([UNEMBED, *map(str, args)], capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == code, (p.returncode, p.stdout[-3000:], p.stderr[-3000:])
    return p


def one_error_line(p) -> str:
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:") and "Traceback" not in p.stderr, p.stderr
    return lines[-1]


SPECS = "noise:0.01,rotate:7,mask:0.5,int8,binary,pq:8x4,pca:16,ldp:8"
SMALL = ["--n", 4, "--steps", 1, "--beam", 1, "--queries", 15, "--passages", 50, "--fit-texts", 300,
         "--adaptive-steps", 2, "--adaptive-corrector-steps", 1, "--adaptive-texts", 32, "--adaptive-batch-size", 8,
         "--leaked-pairs", "5,20"]


@pytest.fixture(scope="module")
def defend_run(tmp_path_factory, tiny_run):
    out = tmp_path_factory.mktemp("defend") / "defend"
    p = run_cli("defend", "--inverter", tiny_run, "--defence", SPECS, "--out", out, *SMALL, "--json")
    return out, p


def test_cli_defend_json_and_files(defend_run, tiny_run):
    out, p = defend_run
    objs = [json.loads(line) for line in p.stdout.strip().splitlines()]
    assert [o["defence"] for o in objs] == ["none"] + SPECS.split(",")
    for o in objs:
        for key in ("defence", "recall_at_10", "ndcg_at_10", "leakage"):
            assert key in o
        for who in ("non_adaptive", "adaptive"):
            assert set(("bleu", "token_f1", "exact_match", "cosine")) <= set(o["leakage"][who])
            assert 0 <= o["leakage"][who]["bleu"] <= 100 and -1 <= o["leakage"][who]["cosine"] <= 1
        assert 0 <= o["recall_at_10"] <= 1 and 0 <= o["ndcg_at_10"] <= 1
    by = {o["defence"]: o for o in objs}
    # a rotation changes no search result; least squares attacks it with each k, fine-tuning attacks the rest
    assert by["rotate:7"]["ndcg_at_10"] == pytest.approx(by["none"]["ndcg_at_10"], abs=1e-6)
    assert [a["leaked_pairs"] for a in by["rotate:7"]["attacks"]] == [5, 20]
    assert [a["leaked_pairs"] for a in by["mask:0.5"]["attacks"]] == [5, 20]
    assert "fine-tuned" in by["int8"]["leakage"]["adaptive"]["attack"]
    assert "relative_l2_error_fit" in by["pq:8x4"]["details"]
    assert by["ldp:8"]["ndcg_at_10"] < by["none"]["ndcg_at_10"]  # whole-vector epsilon 8 costs utility
    assert sum(o["recommended"] for o in objs) <= 1
    sig = objs[0]["signature"]
    assert sig["model"].startswith("tiny@") and sig["n"] == 4 and sig["steps"] == 1 and sig["split"] == "test"
    assert "retrieval:trivia-wiki@" in sig["string"] and "beam:1" in sig["string"]
    assert "fine-tune hypothesizer" in p.stderr and "invert (adaptive)" in p.stderr  # progress bars
    results = json.loads((out / "results.json").read_text())
    assert results["retrieval"]["undefended"]["ndcg_at_10"] == pytest.approx(by["none"]["ndcg_at_10"])
    assert results["recommendation"]["threshold"] == 10
    assert (out / "utility_leakage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any((out / "adaptive").iterdir())  # fine-tuned attackers are not kept by default


def test_cli_defend_report_is_self_contained(defend_run):
    out, _ = defend_run
    html = (out / "report.html").read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "http://" not in html.replace("http-equiv", "") and "https://" not in html
    assert "<script" not in html and "<link" not in html
    assert html.count('src="data:image/png;base64,') == 1
    for spec in SPECS.split(","):
        assert f"<b>{spec}</b>" in html
    assert "Pareto" in html and "signature" in html


def test_cli_defend_report_renders_offline(defend_run, chromium):
    from matplotlib.image import imread

    from test_audit import external, render

    out, _ = defend_run
    png, urls = render(chromium, (out / "report.html").as_uri(), height=1600)
    assert external(urls) == [], external(urls)
    shot = out.parent / "shot.png"
    shot.write_bytes(png)
    img = imread(shot)[..., :3]
    background = np.all(np.abs(img - img[5, 5]) < 0.02, axis=-1)
    assert background.mean() < 0.9, "the screenshot is (almost) blank"


def test_cli_defend_resume_and_errors(defend_run, tiny_run, tmp_path):
    out, _ = defend_run
    line = one_error_line(run_cli("defend", "--inverter", tiny_run, "--defence", SPECS, "--out", out, *SMALL, code=2))
    assert "--resume" in line
    p = run_cli("defend", "--inverter", tiny_run, "--defence", SPECS, "--out", out, *SMALL, "--resume",
                "--threshold", 100)
    assert "resuming: 9 defences" in p.stderr and "fine-tune" not in p.stderr
    assert "NDCG@10" in p.stdout and "cheapest defence" in p.stdout
    line = one_error_line(run_cli("defend", "--inverter", tiny_run, "--defence", SPECS, "--out", out, *SMALL,
                                  "--steps", 0, "--resume", code=2))
    assert "other settings (steps differ)" in line
    line = one_error_line(run_cli("defend", "--inverter", tiny_run, "--defence", "noise:0.1,blur:2", "--out",
                                  tmp_path / "x", code=2))
    assert "unknown defence 'blur:2'" in line and not (tmp_path / "x").exists()
    line = one_error_line(run_cli("defend", "--inverter", tiny_run, "--defence", "pca:400", "--out", tmp_path / "y",
                                  *SMALL, code=2))
    assert "more than the dimension 384" in line


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("sig,seed", [("SIGTERM", 13), ("SIGKILL", 7)])
def test_a_signal_at_a_random_point_then_resume_gives_the_records_of_the_uninterrupted_run(defend_run, tiny_run,
                                                                                            tmp_path, sig, seed):
    """A real SIGTERM or kill -9 while `unembed defend` measures its defences (after a seeded random number of
    them are recorded). SIGTERM: one line naming the way out and no half-written file. Either way `--resume`
    then completes the grid with the same record, number for number, for every defence as the uninterrupted
    run, and nothing half-written is read as valid."""
    ref_out, _ = defend_run
    strip = lambda rec: {k: v for k, v in rec.items() if k not in ("seconds", "recommended")}  # noqa: E731
    want = {r["defence"]: strip(r) for r in map(json.loads, (ref_out / "results.jsonl").read_text().splitlines())}
    out = tmp_path / "defend"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    args = ["--inverter", tiny_run, "--defence", SPECS, "--out", out, *SMALL]
    proc = subprocess.Popen([UNEMBED, "defend", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    rng = random.Random(seed)
    at = rng.randint(1, len(want) - 2)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 900
    while proc.poll() is None and time.monotonic() < deadline and \
            (not results.exists() or results.read_bytes().count(b"\n") < at):
        time.sleep(0.05)
    time.sleep(rng.uniform(0, 0.5))
    assert proc.poll() is None, "defend ended before the signal: nothing was interrupted"
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=300)
    err = err.decode(errors="replace")
    if sig == "SIGTERM":
        assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
        assert "interrupted" in err.strip().splitlines()[-1]
        assert half_written(out) == []
        kept = [json.loads(line) for line in results.read_text().splitlines()]  # every line whole
    else:
        assert proc.returncode == -signal.SIGKILL
        kept = [line for line in results.read_text().splitlines() if line.endswith("}")]
    assert at <= len(kept) < len(want)
    p = run_cli(*["defend", *args, "--resume"])
    assert "resuming: " in p.stderr
    got = {r["defence"]: strip(r) for r in map(json.loads, results.read_text().splitlines())}
    assert list(got) == list(want)
    for spec in want:
        assert got[spec] == want[spec], spec
