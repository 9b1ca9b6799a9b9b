"""Language-model inversion end to end on a tiny causal LM trained here: the softmax-bottleneck
projection, each access mode (probs, topk with logit_bias recovery, samples) through training and
evaluation, the loopback OpenAI-compatible server over real HTTP, defences with their cost, the
command line, and bad input."""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from unembed.errors import InputError, TargetError
from unembed.lm import SpanProjection, load_lm_inverter, load_target, parse_access
from unembed.lm.access import probe_tokens
from unembed.lm.defences import defence_cost, defended, parse_defences
from unembed.lm.serve import serve_in_thread
from unembed.lm.training import LMTrainConfig, train_lm
from unembed_command import run

NOUNS = "apple river stone cloud garden window silver pencil ladder castle forest candle".split()
VERBS = "near behind under above".split()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_causal_lm):
    """A 1-layer Llama (hidden size 16, untied output matrix, word-level vocabulary) trained for 80
    steps on "the X is near the Y ." sentences; its folder, and a prompt file of such sentences."""
    rng = random.Random(0)
    sents = sorted({f"the {a} is {v} the {b} ." for a in NOUNS for b in NOUNS for v in VERBS if a != b})
    pieces = sorted(set(t for x in sents for t in re.findall(r"\w+|[^\w\s]+", x)) | {"repeat", "text", ":"})
    root = tmp_path_factory.mktemp("tiny_causal")
    tiny_causal_lm(root / "model", sents, pieces, eos="<eos>", hidden=16, layers=1, heads=2, max_positions=128,
                   steps=80, rng=rng)
    prompts = root / "prompts.txt"
    prompts.write_text("\n".join(rng.sample(sents, 240)) + "\n")
    return root / "model", prompts


@pytest.fixture(scope="module")
def target(tiny):
    return load_target(str(tiny[0]))


def small_config(out, tiny, access, **kw):
    base = dict(out=str(out), target=str(tiny[0]), access=access, prompts=str(tiny[1]), train_prompts=0, n_validation=8,
                n_test=16, model="tiny", init="random", steps=60, batch_size=16, warmup_steps=5, eval_every=30,
                save_every=20, shard=32)
    base.update(kw)
    return LMTrainConfig(**base)


# --------------------------------------------------------------------------------------------------
# the softmax bottleneck
# --------------------------------------------------------------------------------------------------


def test_compact_form_is_exact_and_hidden_size_plus_one(target):
    lp = target.logprobs(["the apple is", "the river is near the"], 3).flatten(0, 1)
    proj = SpanProjection.from_matrix(target.output_matrix())
    z = proj.compact(lp)
    assert z.shape == (6, target.hidden_size + 1)
    assert (proj.expand(z) - lp).abs().max() < 1e-4
    # an attacker without the matrix: the span estimated from outputs alone reconstructs them too
    rng = random.Random(1)
    many = target.logprobs([[rng.randrange(2, target.vocab_size) for _ in range(rng.randint(1, 6))]
                            for _ in range(80)], 2).flatten(0, 1)
    est = SpanProjection.from_outputs(many)
    assert est.dim <= target.hidden_size + 1
    assert (est.expand(est.compact(lp)) - lp).abs().max() < 1e-3


def test_logit_bias_recovers_probe_log_probabilities_exactly(target):
    acc = parse_access("topk:4:2", probes=target.hidden_size + 1)
    obs = acc.observe(target, ["the apple is", "the stone is under the"])
    full = target.logprobs(["the apple is", "the stone is under the"], 2)
    probes = probe_tokens(target.vocab_size, target.hidden_size + 1)
    assert np.abs(obs.features[:, :, : len(probes)] - full[:, :, probes].numpy()).max() < 1e-3
    assert obs.recovered == 1.0
    assert obs.queries[0] >= 1 + 2 * (len(probes) - 4) // 3  # counted, K-1 new tokens per query


@pytest.mark.parametrize("policy", [{}, {"topk": 3}, {"no_logit_bias": True}])
def test_shared_pass_bias_answers_equal_one_request_per_bias(target, policy):
    """complete_biased is a saving of the local simulation only: the answers and the query count are
    those of one real request per logit_bias, under the server's policy too."""
    ctx = target.encode("the apple is near")
    probes = probe_tokens(target.vocab_size, 9)
    biases = [{probes[0]: 100.0, probes[i]: 100.0, probes[i + 1]: 100.0} for i in range(1, 8, 2)] + [{}]
    target.policy = dict(policy)
    try:
        before = target.queries
        shared = target.complete_biased([ctx, ctx], [biases, biases[:2]], 4)
        assert shared[1] == shared[0][:2]
        shared = shared[0]
        assert target.queries - before == len(biases) + 2
        one_each = [target.complete([ctx], 1, top_logprobs=4, logit_bias=b)[0][0].top[0] for b in biases]
    finally:
        target.policy = {}
    for got, want in zip(shared, one_each):
        assert [t for t, _ in got] == [t for t, _ in want]
        assert np.allclose([v for _, v in got], [v for _, v in want], atol=1e-5)


# --------------------------------------------------------------------------------------------------
# each access mode end to end
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probs_run(tiny, target, tmp_path_factory):
    out = tmp_path_factory.mktemp("lm_runs") / "probs"
    train_lm(small_config(out, tiny, "probs:2", steps=120), target=target)
    return out


def test_probs_mode_trains_and_beats_chance(probs_run, target):
    from unembed.lm.evaluate import evaluate_lm

    inv = load_lm_inverter(probs_run)
    test = json.loads((probs_run / "splits.json").read_text())["test"]
    ev = evaluate_lm(inv, target, test, baselines=True)
    d = ev.to_dict()
    assert d["n"] == len(test) and d["access"] == "probs:2" and d["queries_per_prompt"] == 1
    assert d["token_f1"] > 40  # the template words come back
    assert "ask_the_model" in d["baselines"] and "nearest_neighbour" in d["baselines"]
    assert d["signature"]["string"].startswith("inverter:")
    assert "access:probs:2" in d["signature"]["string"]
    # scores per prompt-length bucket, in the target's tokens, partition the prompts
    lengths = [len(target.encode(p)) for p in test]
    buckets = d["by_length"]["buckets"]
    assert d["by_length"]["unit"] == "target tokens" and sum(b["n"] for b in buckets) == len(test)
    assert buckets[0]["n"] == sum(1 <= n <= 8 for n in lengths) or buckets[0]["tokens"] != "1-8"
    if len(buckets) == 1:
        assert buckets[0]["bleu"] == pytest.approx(d["bleu"])
    # cache is fp16 and resumable: a second run reuses every shard and the finished checkpoint
    parts = sorted((probs_run / "cache" / "train").glob("part-*.npz"))
    assert parts and np.load(parts[0])["features"].dtype == np.float16


def test_re_observing_the_beam_keeps_the_candidate_whose_outputs_match_and_counts_its_queries(probs_run, target):
    from unembed.lm.evaluate import evaluate_lm, observe_for
    from unembed.lm.reobserve import closest_by_reobservation, observation_distance, recover

    inv = load_lm_inverter(probs_run)
    test = json.loads((probs_run / "splits.json").read_text())["test"][:8]
    obs = observe_for(inv, target, test)
    pools = inv.candidates(obs, 3, 3)
    assert all(len(p) == 3 for p in pools)
    assert [p[0] for p in pools] == inv.invert(obs, beams=3)  # the beam's best comes first
    # the hidden prompt among the candidates is at distance 0, so it is the one kept
    planted = [p[:1] + [t] + p[1:] for p, t in zip(pools, test)]
    before = target.queries
    chosen, queries = closest_by_reobservation(inv, target, obs, planted)
    assert chosen == test
    distinct = [len(set(p)) for p in planted]
    assert queries == distinct and target.queries - before == sum(distinct)
    # otherwise the kept candidate is the nearest of the decoder's own
    chosen, queries = recover(inv, target, obs, beams=1, rerank=3)
    for i, (pool, got) in enumerate(zip(pools, chosen)):
        d = observation_distance(inv, obs.features[i], observe_for(inv, target, pool).features)
        assert got == pool[int(np.argmin(d))]
    assert queries == [1 + len(set(p)) for p in pools]
    assert inv.invert(obs, target=target, rerank=3) == chosen
    d = evaluate_lm(inv, target, test, baselines=False, rerank=3).to_dict()
    assert d["queries_per_prompt"] == pytest.approx(np.mean(queries))
    assert "rerank:3" in d["signature"]["string"] and "beams:3" in d["signature"]["string"]
    with pytest.raises(InputError, match="rerank needs the target"):
        inv.invert(obs, rerank=3)
    from unembed.lm.access import Observation

    with pytest.raises(InputError, match="vector access mode"):
        recover(inv, target, Observation("samples:2", samples=[["a", "b"]]), rerank=3)


def test_training_resumes_from_its_cache_and_checkpoint(tiny, target, tmp_path):
    from unembed.inversion.training import TrainingInterrupted

    cfg = small_config(tmp_path / "r", tiny, "probs:1", steps=40, stop_after=20)
    with pytest.raises(TrainingInterrupted):
        train_lm(cfg, target=target)
    before = target.queries
    cfg.stop_after = None
    train_lm(cfg, target=target)
    assert target.queries == before  # observations came from the cache
    log = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 40
    assert (tmp_path / "r" / "inverter" / "lm_inverter.json").exists()


def test_a_grown_run_copies_the_observations_it_already_has_and_asks_only_for_new_prompts(tiny, target, tmp_path):
    from unembed.lm.cache import ObservationCache
    from unembed.lm.training import observe_split
    from unembed.reporting import LogReporter

    access = parse_access("probs:2", probes=target.hidden_size + 1)
    prompts = tiny[1].read_text().splitlines()
    first = observe_split(target, access, prompts[:50], tmp_path / "a", LogReporter(), "a", shard=16)
    grown = prompts[60:90] + prompts[:50][::-1]  # other order, other shard boundaries
    before = target.queries
    obs = observe_split(target, access, grown, tmp_path / "b", LogReporter(), "b", shard=16, reuse=[tmp_path / "a"])
    assert target.queries - before == 30  # only the new prompts reached the target
    assert np.array_equal(obs.features[30:], first.features[:50][::-1])  # the copied rows, bit for bit
    fresh = observe_split(target, access, grown, tmp_path / "c", LogReporter(), "c", shard=16)
    assert np.allclose(obs.features, fresh.features, atol=1e-2) and obs.queries == fresh.queries
    assert ObservationCache.open(tmp_path / "b").prompts == grown  # it can donate in turn
    with pytest.raises(InputError, match="access"):
        observe_split(target, parse_access("probs:1"), prompts[:40], tmp_path / "d", LogReporter(), "d",
                      reuse=[tmp_path / "a"])
    (tmp_path / "a" / "prompts.jsonl").unlink()  # a cache from before prompts were kept
    with pytest.raises(InputError, match="prompts.jsonl"):
        observe_split(target, access, prompts[:40], tmp_path / "e", LogReporter(), "e", reuse=[tmp_path / "a"])
    # through training: a run reusing an earlier run's folder asks only for the prompts that one lacked
    train_lm(small_config(tmp_path / "r1", tiny, "probs:1", train_prompts=100, steps=2, eval_every=2), target=target)
    before = target.queries
    train_lm(small_config(tmp_path / "r2", tiny, "probs:1", train_prompts=200, steps=2, eval_every=2,
                          reuse=[str(tmp_path / "r1")]), target=target)
    had = set(ObservationCache.open(tmp_path / "r1" / "cache" / "train").prompts)
    wanted = ObservationCache.open(tmp_path / "r2" / "cache" / "train").prompts
    assert 0 < target.queries - before == len([p for p in wanted if p not in had]) < len(wanted)


def test_an_lm_inverter_can_start_from_an_embedding_inverters_hypothesizer(tiny, target, tiny_run, tmp_path):
    from unembed import load_inverter
    from unembed.lm.model import LMInverterModel, LMModelConfig
    from unembed.lm.training import warm_start_from_inverter
    from unembed.inversion.training.pipeline import preset_transformer
    from unembed.inversion.tokenization import Codec

    source = load_inverter(tiny_run, precision="fp32").hypothesizer.seq2seq.state_dict()
    codec = Codec.default()
    tcfg, _ = preset_transformer("tiny", codec.vocab_size, 0.0, codec)
    model = LMInverterModel(LMModelConfig(feature_dim=17, positions=1, n_pseudo_tokens=4, transformer=tcfg))
    names = warm_start_from_inverter(model.seq2seq, str(tiny_run))
    assert names and all(torch.equal(model.seq2seq.state_dict()[n], source[n]) for n in source)
    bigger, _ = preset_transformer("small", codec.vocab_size, 0.1, codec)
    with pytest.raises(InputError, match="--model"):
        warm_start_from_inverter(LMInverterModel(LMModelConfig(feature_dim=17, transformer=bigger)).seq2seq,
                                 str(tiny_run))
    with pytest.raises(InputError, match="--init"):
        warm_start_from_inverter(model.seq2seq, str(tmp_path / "no-such-inverter"))
    # and through training: the run starts there and finishes
    folder = train_lm(small_config(tmp_path / "r", tiny, "probs:1", init=str(tiny_run), steps=10, eval_every=10),
                      target=target)
    assert (folder / "lm_inverter.json").exists()


def test_init_from_an_lm_inverter_continues_it_and_refuses_another_access(tiny, target, tmp_path):
    from unembed.lm.model import LMInverterModel
    from unembed.lm.training import continue_lm_inverter

    first = train_lm(small_config(tmp_path / "a", tiny, "probs:1", steps=40), target=target)
    source = load_lm_inverter(first)
    model = LMInverterModel(source.model.cfg)
    assert continue_lm_inverter(model, str(tmp_path / "a"), "probs:1", target.fingerprint()).name == "a"
    assert all(torch.equal(v, source.model.state_dict()[k]) for k, v in model.state_dict().items())
    assert continue_lm_inverter(model, "minilm", "probs:1", target.fingerprint()) is None  # not an LM inverter
    with pytest.raises(InputError, match="--access"):
        continue_lm_inverter(model, str(first), "probs:2", target.fingerprint())
    # through training: the continued run starts from the first run's loss, not from scratch
    train_lm(small_config(tmp_path / "b", tiny, "probs:1", init=str(first), steps=10, eval_every=10), target=target)
    train_lm(small_config(tmp_path / "c", tiny, "probs:1", steps=10, eval_every=10), target=target)

    def first_loss(run):
        rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        return next(r["loss"] for r in rows if "loss" in r)

    assert first_loss(tmp_path / "b") < first_loss(tmp_path / "c")
    assert load_lm_inverter(tmp_path / "b").meta["init"] == "continued a"


def test_topk_mode_end_to_end_counts_queries(tiny, target, tmp_path):
    from unembed.lm.evaluate import evaluate_lm

    train_lm(small_config(tmp_path / "t", tiny, "topk:5", steps=40, train_prompts=80), target=target)
    inv = load_lm_inverter(tmp_path / "t")
    ev = evaluate_lm(inv, target, ["the apple is near the river .", "the cloud is under the stone ."], baselines=False)
    assert ev.queries_per_prompt > 1 and ev.recovered == 1.0
    assert len(ev.examples) == 2


def test_samples_mode_end_to_end(tiny, target, tmp_path):
    from unembed.lm.evaluate import evaluate_lm

    train_lm(small_config(tmp_path / "s", tiny, "samples:3", steps=30, train_prompts=60, sample_tokens=8),
             target=target)
    inv = load_lm_inverter(tmp_path / "s")
    assert inv.access.mode == "samples" and inv.access.n == 3
    out = inv.invert([["is near the river .", "is under the stone"], ["near the candle ."]])
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    ev = evaluate_lm(inv, target, ["the apple is near the river ."], baselines=False)
    assert ev.n == 1 and ev.access == "samples:3"


# --------------------------------------------------------------------------------------------------
# the loopback server over real HTTP
# --------------------------------------------------------------------------------------------------


def test_endpoint_against_loopback_server_matches_local_target(target):
    server, url = serve_in_thread(target)
    try:
        ep = load_target(url)
        assert ep.vocab_size == target.vocab_size and ep.probe_count == target.hidden_size + 1
        acc = parse_access("topk:4:2", probes=target.hidden_size + 1)
        local = acc.observe(target, ["the apple is"])
        remote = acc.observe(ep, ["the apple is"])
        assert np.abs(local.features - remote.features).max() < 1e-4
        assert remote.queries[0] == local.queries[0] + 1  # the echo that tokenised the prompt
        samples = parse_access("samples:2").observe(ep, ["the river"]).samples
        assert len(samples) == 1 and len(samples[0]) == 2
    finally:
        server.shutdown()


def test_training_against_the_endpoint_in_topk_mode(tiny, target, tmp_path):
    server, url = serve_in_thread(target)
    try:
        folder = train_lm(small_config(tmp_path / "e", tiny, "topk:5", target=url, steps=10, train_prompts=24))
        inv = load_lm_inverter(folder)
        assert inv.meta["probes"] == target.hidden_size + 1 and inv.target == url
        obs = inv.access.observe(load_target(url), ["the apple is near the river ."])
        assert len(inv.invert(obs)) == 1 and obs.queries[0] > 1
    finally:
        server.shutdown()


def test_server_without_logit_bias_defeats_recovery(target):
    server, url = serve_in_thread(target, policy={"no_logit_bias": True})
    try:
        obs = parse_access("topk:4", probes=target.hidden_size + 1).observe(load_target(url), ["the apple is"])
        assert obs.recovered == 0.0
    finally:
        server.shutdown()
    assert not target.policy  # the server's policy held for its requests only


def test_endpoint_errors_are_one_line(target):
    with pytest.raises(TargetError, match="unreachable"):
        load_target("http://127.0.0.1:9/v1")
    server, url = serve_in_thread(target, policy={"samples_only": True})
    try:
        with pytest.raises(TargetError, match="no logprobs"):
            parse_access("topk:4", probes=17).observe(load_target(url), ["the apple is"])
        with pytest.raises(TargetError, match="no full distributions"):
            parse_access("probs").observe(load_target(url), ["the apple is"])
    finally:
        server.shutdown()


# --------------------------------------------------------------------------------------------------
# defences and their cost
# --------------------------------------------------------------------------------------------------


def test_defences_parse_through_the_registry_and_cost_what_they_should(target):
    ds = parse_defences("noise:0.5,topk:3,temperature:2,no-logit-bias,samples-only")
    assert [d.spec for d in ds] == ["noise:0.5", "topk:3", "temperature:2", "no-logit-bias", "samples-only"]
    prompts = ["the apple is", "the river is near"]
    cost = {d.spec: defence_cost(target, d, prompts, 2) for d in ds}
    assert cost["noise:0.5"]["kl"] > 0 and cost["noise:0.5"]["greedy_agreement"] == 1.0
    assert cost["temperature:2"]["kl"] > 0
    assert cost["topk:3"]["kl"] > 0
    assert cost["no-logit-bias"]["kl"] == pytest.approx(0, abs=1e-6)
    assert cost["samples-only"]["kl"] is None
    with defended(target, ds[1]):
        lp = target.logprobs(prompts, 1)
        assert len(torch.unique(lp[0, 0])) <= 4  # three returned entries and a floor
    assert not target.policy
    with pytest.raises(InputError):
        parse_defences("noise")
    with pytest.raises(InputError):
        parse_defences("paraphrase:2")


# --------------------------------------------------------------------------------------------------
# the command line and bad input
# --------------------------------------------------------------------------------------------------


def test_cli_eval_invert_defend(probs_run, tiny, tmp_path):
    p = run("lm", "eval", "--inverter", probs_run, "--json", "--limit", "6", "--report", tmp_path / "ev.html")
    d = json.loads(p.stdout)
    for key in ("bleu", "token_f1", "exact_match", "n", "access", "queries_per_prompt", "signature"):
        assert key in d
    assert d["n"] == 6 and "default-src 'none'" in (tmp_path / "ev.html").read_text()
    p = run("lm", "eval", "--inverter", probs_run, "--json", "--limit", "6", "--no-baselines", "--rerank", "3")
    assert 1 < json.loads(p.stdout)["queries_per_prompt"] <= 4
    secret = tmp_path / "secret.txt"
    secret.write_text("the apple is near the river .\nthe cloud is under the stone .\n")
    run("lm", "invert", "--inverter", probs_run, "--prompt-file", secret, "--out", tmp_path / "rec.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "rec.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and {"recovered", "queries", "access"} <= set(rows[0])
    run("lm", "invert", "--inverter", probs_run, "--prompt-file", secret, "--out", tmp_path / "rer.jsonl", "--rerank", "3")
    assert all(1 < json.loads(x)["queries"] <= 4 for x in (tmp_path / "rer.jsonl").read_text().splitlines())
    run("lm", "defend", "--inverter", probs_run, "--prompts", secret, "--defence", "noise:0.1,topk:3,samples-only",
        "--out", tmp_path / "def")
    res = json.loads((tmp_path / "def" / "results.json").read_text())
    assert [r["defence"] for r in res["rows"]] == ["none", "noise:0.1", "topk:3", "samples-only"]
    assert res["rows"][-1]["bleu"] is None and "blocked" in res["rows"][-1]["note"]
    html = (tmp_path / "def" / "report.html").read_text()
    assert "<script" not in html and "data:image/png;base64," in html
    assert all(r["ask_bleu"] is not None for r in res["rows"])
    p = run("lm", "defend", "--inverter", probs_run, "--prompts", secret, "--defence", "noise:0.1", "--no-baselines",
            "--out", tmp_path / "quick")
    quick = json.loads((tmp_path / "quick" / "results.json").read_text())["rows"]
    assert [r["ask_bleu"] for r in quick] == [None, None] and quick[0]["bleu"] == res["rows"][0]["bleu"]
    assert "ask BLEU not run" in p.stdout


def test_bad_input_is_one_line_exit_2(tiny, tmp_path):
    from transformers import BertConfig, BertForMaskedLM

    p = run("lm", "train", "--target", "no-such-model", "--out", tmp_path / "a", "--prompts", tiny[1], code=2)
    assert "unknown target" in p.stderr and "Traceback" not in p.stderr
    bert = tmp_path / "bert"
    BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=16)).save_pretrained(bert)
    p = run("lm", "train", "--target", bert, "--out", tmp_path / "b", "--prompts", tiny[1], code=2)
    assert "not a causal language model" in p.stderr
    p = run("lm", "train", "--target", "http://127.0.0.1:9/v1", "--out", tmp_path / "c", "--prompts", tiny[1], code=2)
    assert "unreachable" in p.stderr
    p = run("lm", "train", "--access", "logits:3", "--out", tmp_path / "d", code=2)
    assert "unknown access mode" in p.stderr
    p = run("lm", "train", "--reuse", tmp_path / "nowhere", "--out", tmp_path / "e", code=2)
    assert "--reuse" in p.stderr and "no such folder" in p.stderr
    (tmp_path / "empty").mkdir()
    p = run("lm", "train", "--reuse", tmp_path / "empty", "--out", tmp_path / "f", code=2)
    assert "no observation cache" in p.stderr
    p = run("lm", "eval", "--inverter", tmp_path / "nothing", "--prompts", tiny[1], code=2)
    assert "neither a shipped LM inverter" in p.stderr


@pytest.mark.timeout(900)
@pytest.mark.parametrize("sig,seed", [("SIGTERM", 1), ("SIGKILL", 2)])
def test_a_signal_at_a_random_point_of_lm_train_then_resume_gives_the_weights_of_an_uninterrupted_run(
        tiny, tmp_path, sig, seed):
    """`unembed lm train` in a subprocess, stopped by a real SIGTERM or kill -9 at a seeded random point (while
    it observes the target, or after a random checkpoint of the fit), then `--resume`: the inverter's weights
    equal an uninterrupted run's, and nothing half-written is read as valid."""
    import os
    import signal
    import subprocess
    import time

    from conftest import assert_same_weights
    from unembed_command import SRC, UNEMBED

    args = ["lm", "train", "--target", tiny[0], "--access", "probs:1", "--prompts", tiny[1], "--train-prompts", 0,
            "--n-validation", 8, "--n-test", 16, "--model", "tiny", "--init", "random", "--steps", 40,
            "--batch-size", 16, "--warmup-steps", 5, "--eval-every", 0, "--save-every", 4]
    run(*args, "--out", tmp_path / "whole")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "parts"
    proc = subprocess.Popen([UNEMBED, *map(str, args), "--out", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    rng = random.Random(seed)
    phase, lines = rng.choice(["observe", "fit"]), 1 + rng.randrange(3)  # fit: after 10, 20 or 30 of 40 steps
    log = out / "log.jsonl"

    def reached() -> bool:
        if phase == "observe":
            return (out / "cache").exists() and any((out / "cache").rglob("part-*.npz"))
        return log.exists() and log.read_bytes().count(b"\n") >= lines

    deadline = time.monotonic() + 600
    while proc.poll() is None and not reached() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"lm train ended before the signal ({phase}): nothing was interrupted"
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=300)
    err = err.decode(errors="replace")
    if sig == "SIGTERM":
        assert proc.returncode in (2, 130) and "Traceback" not in err, err[-2000:]
        assert "--resume" in err.strip().splitlines()[-1]
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not (out / "inverter" / "lm_inverter.json").exists()
    run(*args, "--out", out, "--resume")
    files = sorted(p.name for p in (tmp_path / "whole" / "inverter").glob("*.safetensors"))
    assert files and files == sorted(p.name for p in (out / "inverter").glob("*.safetensors"))
    for name in files:
        assert_same_weights(tmp_path / "whole" / "inverter" / name, out / "inverter" / name)
