"""The glitch-token audit: MiniLM's real vocabulary (behaviour on a small pool), a tiny causal LM
trained here on text in which some of its words never appear (end to end through the installed
command), the tokenizer checks, the cross-fitted AUC, and bad input."""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import half_written
from unembed.errors import InputError
from unembed.glitch import (REPEAT_PROMPTS, audit_vocabulary, crossfit_magikarp, fill, kmeans, known_unused,
                            load_vocab_model, roc_auc, tokenizer_checks)
from unembed_command import run


WORDS = ("apple river stone cloud garden window silver pencil ladder castle forest candle rocket mirror "
         "tiger bottle planet violin marble basket shadow hammer jacket lemon orbit puzzle saddle tunnel "
         "wizard yellow anchor bridge copper dragon engine falcon glacier harbor island jungle kettle "
         "lantern meadow nickel oyster parrot quartz ribbon spider throne umbrella velvet walnut zebra").split()


# --------------------------------------------------------------------------------------------------
# A tiny causal LM that never saw a third of its words
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory, tiny_causal_lm):
    """A 2-layer Llama (untied output matrix) with a word-level tokenizer, trained for 150 steps on
    sentences and repeat prompts that use only 36 of its 54 content words. The other 18 never appear
    in training, so their rows are truly under-trained. The tokenizer also holds 16 ``<unusedN>``
    slots (unreachable, like BERT's ``[unusedN]``)."""
    rng = random.Random(0)
    words = list(WORDS)
    rng.shuffle(words)
    seen, unseen = words[:36], words[36:]

    def sentences(n):
        return [f"the {rng.choice(seen)} is near the {rng.choice(seen)} and the {rng.choice(seen)} ." for _ in range(n)]

    train = sentences(300) + [fill(t, w) for w in seen for _, t in REPEAT_PROMPTS] * 4
    pieces = sorted(set(t for text in train for t in re.findall(r"\w+|[^\w\s]+", text)) | set(words))
    folder = tiny_causal_lm(tmp_path_factory.mktemp("tiny_lm") / "model", train,
                            [f"<unused{i}>" for i in range(16)] + pieces, eos="<|endoftext|>", hidden=64, layers=2,
                            heads=4, max_positions=256, steps=150, rng=rng)
    return folder, seen, unseen


def test_causal_lm_end_to_end_through_the_command(tiny_lm, tmp_path):
    folder, seen, unseen = tiny_lm
    out = tmp_path / "glitch"
    p = run("glitch", "--model", folder, "--out", out, "--json", "--clusters", 4, "--top", 0.1,
            "--control", 1000, "--known-unused-sample", 16, "--inverter", "minilm")
    s = json.loads(p.stdout)
    assert {"n_tokens", "candidates", "verified", "methods"} <= set(s)
    assert s["model"]["kind"] == "causal_lm" and s["model"]["tied"] is False
    assert s["categories"]["known_unused"] == 16 and s["categories"]["unreachable"] == 16  # <unusedN> splits apart
    for name in ("l2_norm", "centroid_distance", "cluster_distance", "magikarp", "unreachable", "round_trip"):
        assert {"precision", "recall", "known_unused_auc"} <= set(s["methods"][name])
    assert s["methods"]["magikarp"]["matrix"].startswith("output")
    assert "does not apply to a causal LM" in s["inverter"]["reason"]
    assert s["behaviour"]["kind"] == "repeat_prompts"
    assert (out / "report.html").is_file() and (out / "summary.json").is_file()

    records = {r["text"].strip(): r for r in map(json.loads, (out / "candidates.jsonl").read_text().splitlines())}
    # Magikarp's verification tells the words the model never saw from the ones it learned to repeat
    assert all(records[w]["verdict"] == "verified" for w in unseen), [(w, records[w]["why"]) for w in unseen]
    assert sum(records[w]["verdict"] == "rejected" for w in seen) >= 0.9 * len(seen)
    assert all(records[w]["behaviour"]["max_prob"] < 0.01 for w in unseen)
    # ... and so does the weight indicator: rows that never got a gradient keep their small initial norm
    norm = {w: records[w]["indicators"]["l2_norm"] for w in seen + unseen}
    assert roc_auc([-norm[w] for w in unseen], [-norm[w] for w in seen]) > 0.95
    assert s["behaviour"]["known_unused"]["verified_rate"] == 1.0
    assert s["methods"]["magikarp"]["known_unused_auc"] > 0.8


def test_repeat_prompts_put_the_token_in_every_slot(tiny_lm):
    folder, seen, _ = tiny_lm
    vm = load_vocab_model(folder)
    from unembed.glitch import placeholder_for

    vocab = vm.tokenizer.get_vocab()
    p, encoded = placeholder_for(vm.tokenizer, [t for _, t in REPEAT_PROMPTS], [vocab[seen[0]]])
    assert p == vocab[seen[0]]
    for (_, template), ids in zip(REPEAT_PROMPTS, encoded):
        assert ids.count(p) == template.count("{t}")


TINY_SETTINGS = dict(clusters=4, top_fraction=0.1, control=20, known_unused_sample=4, seed=3, batch_size=64)


@pytest.fixture(scope="module")
def tiny_audit(tiny_lm, tmp_path_factory):
    """The tiny LM audited in this process, on a small pool (a second or two)."""
    vm = load_vocab_model(tiny_lm[0])
    out = tmp_path_factory.mktemp("tiny_audit") / "glitch"
    return vm, audit_vocabulary(vm, out, **TINY_SETTINGS), out


def test_summary_carries_a_signature_naming_the_model_and_settings(tiny_audit):
    vm, audit, out = tiny_audit
    sig = audit.signature
    text = str(sig)
    assert sig.kind == "glitch" and text.startswith(f"model:{vm.name}|kind:causal_lm|")
    for part in (f"n:{audit.n_tokens}", "clusters:4", "top:0.1", "control:20", "known_unused_sample:4",
                 "max_per_method:1000", "seed:3", "verify_below:0.01", "reject_above:0.1", "new_tokens:3"):
        assert f"|{part}|" in text, (part, text)
    assert re.search(r"\|weights:[0-9a-f]{12}\|vocab:[0-9a-f]{12}\|", text) and "inverter" not in sig.fields
    # the weights digest tells two matrices apart
    from dataclasses import replace

    assert replace(vm, input_matrix=vm.input_matrix + 1e-3).weights_digest() != vm.weights_digest()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["signature"] == sig.to_dict() and summary["signature"]["string"] == text
    assert {k: v for k, v in summary.items() if k != "signature"} == json.loads(json.dumps(
        {k: v for k, v in audit.to_dict().items() if k != "signature"}))
    import html

    assert html.escape(text) in (out / "report.html").read_text(encoding="utf-8")  # the method section shows it


def test_summary_json_is_written_atomically(tiny_audit, tmp_path, monkeypatch):
    vm, audit, out = tiny_audit
    assert sorted(p.name for p in out.iterdir()) == ["candidates.jsonl", "report.html", "summary.json"]  # no .tmp
    json.loads((out / "summary.json").read_text(encoding="utf-8"))
    # A second audit into the same folder dies while summary.json replaces the old one: the old one stays whole.
    folder = tmp_path / "glitch"
    shutil.copytree(out, folder)
    before = (folder / "summary.json").read_text(encoding="utf-8")
    replace = os.replace

    def crash(src, dst):
        if Path(dst).name == "summary.json":
            raise OSError("disk full")
        replace(src, dst)

    import unembed.io

    monkeypatch.setattr(unembed.io.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        audit_vocabulary(vm, folder, **{**TINY_SETTINGS, "seed": 4})
    assert (folder / "summary.json").read_text(encoding="utf-8") == before
    assert sorted(p.name for p in folder.iterdir()) == ["candidates.jsonl", "report.html", "summary.json"]


def test_methods_table_fits_80_columns(tiny_audit):
    from rich.console import Console

    from unembed.cli.glitch import methods_table

    _, audit, _ = tiny_audit
    methods = {**audit.methods, "magikarp": {"skipped": "no reference tokens"}}  # the widest cell a row can hold
    for ms in (audit.methods, methods):
        console = Console(width=80, record=True)
        console.print(methods_table(ms, audit.model["name"]))
        lines = console.export_text().splitlines()
        assert max(map(len, lines)) <= 80
        assert any("centroid_distance" in line for line in lines)  # method names are not wrapped


# --------------------------------------------------------------------------------------------------
# MiniLM's vocabulary
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm_vm(minilm):
    return load_vocab_model(minilm)


def test_minilm_audit(minilm, minilm_vm, tmp_path):
    """The whole vocabulary's indicators; behaviour on a small pool (0.1% per method, 30 controls)."""
    import torch

    from unembed.inversion.inverter import Inverter
    from unembed.inversion.models import Hypothesizer
    from unembed.inversion.tokenization import Codec
    from unembed.inversion.training import TrainConfig, model_configs

    # A real (untrained) inverter exercises the inversion check; it recovers nothing it should.
    torch.manual_seed(0)
    codec = Codec.default()
    hcfg, _ = model_configs(TrainConfig(out=str(tmp_path), model="tiny"), 384, codec.vocab_size, codec)
    inverter = Inverter(Hypothesizer(hcfg), None, codec, minilm.fingerprint(), embedder=minilm, precision="fp32")

    out = tmp_path / "glitch"
    s = audit_vocabulary(minilm_vm, out, top_fraction=0.001, control=30, known_unused_sample=30, max_per_method=30,
                         inverter=inverter, inverter_steps=0, inverter_limit=4).to_dict()
    assert s["n_tokens"] == 30522 and s["categories"]["known_unused"] == 994 and s["categories"]["special"] == 5
    m = s["methods"]
    assert m["magikarp"]["known_unused_auc"] > 0.95 and m["l2_norm"]["known_unused_auc"] > 0.95
    assert m["magikarp"]["matrix"].startswith("input embedding matrix (tied")
    assert len(m["magikarp"]["cross_fit"]) == 2 and m["magikarp"]["known_unused_auc_in_sample"] is not None
    assert m["l2_norm"]["flagged"] == m["magikarp"]["flagged"] == 30  # 0.1% of the 29,523 eligible tokens
    beh = s["behaviour"]
    assert beh["known_unused"]["verified_rate"] >= 0.9  # the positive control
    assert beh["control"]["verified_rate"] <= 0.2  # the negative control
    assert m["magikarp"]["precision"] > 0.8
    assert s["inverter"]["used"] and s["inverter"]["control_inverted"] + s["inverter"]["candidates_inverted"] > 0

    records = [json.loads(line) for line in (out / "candidates.jsonl").read_text().splitlines()]
    by_token = {r["token"]: r for r in records}
    assert {"known_unused", "unreachable"} <= set(by_token["[unused5]"]["categories"])
    tested_unused = [r for r in records if r["role"] == "known_unused" and r["verdict"] != "untested"]
    assert len(tested_unused) == 30
    flagged = [r for r in records if "magikarp" in r["flagged_by"]]
    assert len(flagged) == 30 and all(r["ranks"]["magikarp"] <= 30 and r["verdict"] != "untested" for r in flagged)
    for key in ("id", "token", "indicators", "ranks", "verdict", "why", "categories"):
        assert key in records[0]

    html = (out / "report.html").read_text()
    assert "default-src 'none'" in html and "<script" not in html
    assert "http://" not in html.replace("http-equiv", "") and "https://" not in html
    assert html.count("data:image/png;base64,") == 4  # two projections, the indicators, the agreement
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verified"] == s["verified"]
    assert "inverter_steps:0" in summary["signature"]["string"] and summary["signature"]["inverter_limit"] == 4


def test_token_ids_embed_exactly_like_text(minilm, minilm_vm):
    text = "the word cat appears in this sentence."
    ids = minilm_vm.tokenizer(text)["input_ids"]
    a = minilm_vm.sentence_vectors([ids])[0]
    b = minilm.embed([text])[0]
    assert float(a @ b / np.linalg.norm(b)) > 0.9999


def test_tokenizer_checks_on_minilm(minilm_vm):
    tok = minilm_vm.tokenizer
    vocab = tok.get_vocab()
    checks = tokenizer_checks(tok, len(vocab))
    assert checks["unreachable"][vocab["[unused5]"]]  # BERT's pre-tokenizer splits "[unused5]" apart
    assert checks["unreachable"][vocab["##戦"]]  # CJK characters are always split off as words
    assert checks["survives"][vocab["the"]] and checks["reachable"][vocab["the"]]
    assert checks["survives"][vocab["##ing"]]  # a continuation survives after an anchor word
    assert not checks["unreachable"][vocab["##ing"]]
    assert len(checks["anchors"]) == 3
    assert set(known_unused(checks["tokens"]).tolist()) == {i for t, i in vocab.items() if t.startswith("[unused")}


def test_tokenizer_checks_on_a_byte_level_bpe():
    """A byte-level BPE whose vocabulary holds a token no merge ever builds."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {c: i for i, c in enumerate(sorted(alphabet))}
    for piece in ("ab", "bc", "abc", "Ġabc"):
        vocab[piece] = len(vocab)
    merges = [("b", "c"), ("a", "bc"), ("Ġ", "abc")]  # "ab" is in the vocabulary, but no merge makes it
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok)
    checks = tokenizer_checks(fast, len(vocab))
    assert checks["unreachable"][vocab["ab"]]
    assert not checks["unreachable"][vocab["abc"]] and checks["survives"][vocab["Ġabc"]]
    # a lone UTF-8 lead byte decodes to U+FFFD: text reaches it only inside a longer character
    lead = next(c for c in alphabet if ord(c) == 0xC3)  # the byte-level symbol of byte 0xC3
    assert checks["partial_utf8"][vocab[lead]] and not checks["unreachable"][vocab[lead]]


# --------------------------------------------------------------------------------------------------
# The pieces
# --------------------------------------------------------------------------------------------------


def test_roc_auc_matches_pair_counting():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40), rng.integers(0, 5, 60)  # many ties
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    assert roc_auc(pos, neg) == pytest.approx(np.mean(pairs))
    assert roc_auc([3, 2], [1, 0]) == 1.0 and roc_auc([0], [1]) == 0.0 and roc_auc([], [1]) is None


def test_crossfit_auc_is_not_circular():
    """Reference rows with nothing in common: the in-sample AUC flatters, the cross-fitted one does not."""
    rng = np.random.default_rng(0)
    m = rng.normal(size=(3000, 32))
    m[:, 0] += rng.normal(scale=5, size=3000)  # a dominant first principal component, as real matrices have
    reference = np.arange(40)
    negatives = np.arange(40, 3000)
    res = crossfit_magikarp(m, reference, negatives, seed=0)
    assert res["auc_in_sample"] > 0.65 and res["auc_in_sample"] - res["auc"] > 0.1
    assert abs(res["auc"] - 0.5) < 0.15
    assert len(res["folds"]) == 2 and {f["held_out"] for f in res["folds"]} == {20}
    # reference rows that do share a direction are found without help from their own rows
    shared = m.copy()
    shared[reference] += 2.0 * np.eye(32)[5] + 2.0 * np.eye(32)[9]
    assert crossfit_magikarp(shared, reference, negatives, seed=0)["auc"] > 0.9


def test_kmeans_separates_blobs_and_refuses_bad_k():
    rng = np.random.default_rng(1)
    centres = rng.normal(scale=10, size=(3, 8))
    x = np.concatenate([c + rng.normal(size=(50, 8)) for c in centres])
    labels, found, _ = kmeans(x, 3, seed=0)
    assert all(len(set(labels[k * 50:(k + 1) * 50])) == 1 for k in range(3)) and len(set(labels)) == 3
    for bad in (1, 151, 2.5):
        with pytest.raises(InputError):
            kmeans(x, bad)


def test_fill_keeps_a_byte_level_token_its_own_space():
    assert fill("say {t} now", "word") == "say word now"
    assert fill("say {t} now", " word") == "say word now"  # not "say  word now"
    assert fill("«{t}»", " word") == "« word»"


# --------------------------------------------------------------------------------------------------
# Bad input: one line, exit code 2
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--model", "no-such-model"], "unknown model 'no-such-model'"),
    (["--model", "{empty}"], "is not a model folder (no config.json)"),
    (["--model", "{file}"], "is a file, not a model folder"),
    (["--model", "minilm", "--clusters", "1"], "--clusters must be at least 2"),
    (["--model", "minilm", "--top", "0.9"], "--top must be above 0"),
])
def test_bad_input_is_one_line(args, message, tmp_path, monkeypatch, capsys):
    """Through the command's entry point, in this process (a subprocess per case costs seconds)."""
    from unembed.cli import main

    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("not a model")
    args = [a.format(empty=tmp_path / "empty", file=tmp_path / "file") for a in args]
    monkeypatch.setenv("COLUMNS", "400")  # a wide terminal: rich would shorten long paths in a narrow one
    monkeypatch.setattr(sys, "argv", ["unembed", "glitch", "--out", str(tmp_path / "o"), *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert not (tmp_path / "o").exists()


def test_library_refuses_bad_settings(minilm_vm, tmp_path):
    from unembed.glitch import resolve_inverter
    from unembed.inversion.inverter import SHIPPED_DIR

    with pytest.raises(InputError, match="no inverter at"):
        resolve_inverter("./no-such-inverter", minilm_vm)
    assert resolve_inverter(None, minilm_vm) == (None, "no inverter given (pass --inverter PATH or --inverter minilm)")
    if not (SHIPPED_DIR / "minilm").exists():  # until one ships, the audit says why it skips the check
        assert "no shipped inverter named 'minilm'" in resolve_inverter("minilm", minilm_vm)[1]
    with pytest.raises(InputError, match="clusters"):
        audit_vocabulary(minilm_vm, tmp_path, clusters=1)
    with pytest.raises(InputError, match="more than the 30522 tokens"):
        audit_vocabulary(minilm_vm, tmp_path, clusters=40000)
    with pytest.raises(InputError, match="fraction"):
        audit_vocabulary(minilm_vm, tmp_path, top_fraction=0)
    with pytest.raises(InputError, match="control must be at least 10"):
        audit_vocabulary(minilm_vm, tmp_path, control=3)


@pytest.mark.timeout(900)
def test_sigterm_and_kill_9_at_random_points_leave_no_half_written_file_and_a_rerun_equals_an_uninterrupted_one(
        tiny_lm, tmp_path):
    """`unembed glitch` has no --resume (a run of the defaults takes seconds to minutes): a real SIGTERM at
    seeded random points of a run ends it with one line and leaves no half-written file; after SIGTERM or
    kill -9 there is no summary.json (written last, it marks a finished audit), and a rerun into the same
    folder gives the uninterrupted run's candidates and summary (apart from its timings and date)."""
    import signal
    import subprocess
    import time

    from unembed_command import SRC, UNEMBED

    folder, _, _ = tiny_lm
    args = ["glitch", "--model", folder, "--clusters", 4, "--top", 0.1, "--control", 200, "--known-unused-sample", 16]
    t0 = time.monotonic()
    run(*args, "--out", tmp_path / "ref")
    took = time.monotonic() - t0

    def summary(out):
        whole = json.loads((out / "summary.json").read_text())
        return {k: v for k, v in whole.items() if k not in ("timings", "generated")}

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "PYTHONPATH": SRC}
    out = tmp_path / "run"
    rng = random.Random(13)
    stopped, finished = 0, False
    for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGTERM):
        proc = subprocess.Popen([UNEMBED, *map(str, args), "--out", out], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        time.sleep(rng.uniform(0.3, 0.9) * took)
        if proc.poll() is None:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
        err = err.decode(errors="replace")
        if proc.returncode == 0:
            finished = True
            continue
        if proc.returncode == -signal.SIGTERM and not err.strip():
            continue  # stopped while Python was still importing, before the command had begun
        stopped += 1
        if sig == signal.SIGTERM:
            assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
            assert "interrupted" in err.strip().splitlines()[-1]
            assert half_written(out) == []
        else:  # no way out at all: an atomic write's temporary may stay, but never under a real name
            assert proc.returncode == -signal.SIGKILL
        assert finished or not (out / "summary.json").exists()
    assert stopped >= 1, "every run ended before its signal: nothing was interrupted"
    run(*args, "--out", out)
    assert (out / "candidates.jsonl").read_text() == (tmp_path / "ref" / "candidates.jsonl").read_text()
    assert summary(out) == summary(tmp_path / "ref")
