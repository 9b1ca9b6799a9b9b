import json

import pytest

from unembed.errors import InputError
from unembed.inversion.training import Batches, TrainingInterrupted, corrupt, train

from conftest import assert_same_weights, tiny_config


def test_loss_falls_and_both_stages_logged(tiny_run):
    log = [json.loads(line) for line in (tiny_run / "log.jsonl").read_text().splitlines()]
    for stage in ("hypothesizer", "corrector"):
        losses = [r["loss"] for r in log if r["stage"] == stage]
        assert losses[-1] < losses[0], (stage, losses)
    assert any("val_bleu" in r for r in log)
    assert all(r["examples_per_second"] > 0 for r in log if "examples_per_second" in r)
    cfg = json.loads((tiny_run / "inverter.json").read_text())
    assert cfg["corrector"] is not None and cfg["embedder"]["name"] == "minilm"
    assert (tiny_run / "corpus" / "test.txt").exists()


def test_resume_reaches_the_same_state_as_an_uninterrupted_run(tmp_path, corpus_file, minilm):
    kw = dict(hypothesizer_steps=12, corrector_steps=8, save_every=5, eval_every=0, corrector_examples=40)
    whole = tmp_path / "whole"
    train(tiny_config(whole, corpus_file, **kw), embedder=minilm)

    parts = tmp_path / "parts"
    with pytest.raises(TrainingInterrupted, match="--resume"):
        train(tiny_config(parts, corpus_file, **kw), embedder=minilm, stop_after=7)
    with pytest.raises(TrainingInterrupted):  # interrupted again, inside the corrector stage
        train(tiny_config(parts, corpus_file, **kw), resume=True, embedder=minilm, stop_after=9)
    train(tiny_config(parts, corpus_file, **kw), resume=True, embedder=minilm)

    for name in ("hypothesizer.safetensors", "corrector.safetensors"):
        assert_same_weights(whole / name, parts / name)


def test_existing_run_needs_resume_and_same_options(tmp_path, corpus_file, minilm):
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        train(tiny_config(out, corpus_file, hypothesizer_steps=5, corrector_steps=0), embedder=minilm, stop_after=2)
    with pytest.raises(InputError, match="--resume"):
        train(tiny_config(out, corpus_file, hypothesizer_steps=5, corrector_steps=0), embedder=minilm)
    with pytest.raises(InputError, match="batch_size"):
        train(tiny_config(out, corpus_file, hypothesizer_steps=5, corrector_steps=0, batch_size=8), resume=True, embedder=minilm)


def test_data_order_is_a_function_of_seed_and_step():
    b = Batches(10, 4, seed=3)
    first = [b(s).tolist() for s in range(6)]
    again = Batches(10, 4, seed=3)
    assert [again(s).tolist() for s in reversed(range(6))] == list(reversed(first))
    flat = sum(first[:5], [])[:10]
    assert sorted(flat) == list(range(10))  # one epoch sees every item once
    assert Batches(10, 4, seed=4)(0).tolist() != first[0]
    # two processes split each global batch
    r0, r1 = Batches(10, 2, 3, rank=0, world=2), Batches(10, 2, 3, rank=1, world=2)
    assert r0(0).tolist() + r1(0).tolist() == first[0]


def test_corrupt_makes_near_misses():
    import numpy as np

    rng = np.random.default_rng(0)
    text = "the quick brown fox jumps over the lazy dog"
    outs = {corrupt(text, rng) for _ in range(20)}
    assert len(outs) > 3 and all(set(o.split()) <= set(text.split()) for o in outs)


def other_sentences(n: int = 120) -> list[str]:
    """A second register for continued training: a template the tiny inverter never saw."""
    import random

    rng = random.Random(1)
    items = ["invoice", "order", "ticket", "parcel", "refund", "booking"]
    return sorted({f"Your {rng.choice(items)} number {rng.randint(100, 999)} was sent on day {rng.randint(1, 28)}."
                   for _ in range(n)})


def test_train_from_continues_an_inverter_and_keeps_its_embedder(tmp_path, tiny_run, minilm):
    from unembed import load_inverter

    corpus = tmp_path / "other.txt"
    corpus.write_text("\n".join(other_sentences()) + "\n")
    kw = dict(start_from=str(tiny_run), hypothesizer_steps=10, corrector_steps=6, save_every=4, eval_every=0,
              corrector_examples=30, corrector_rounds=2)
    out = train(tiny_config(tmp_path / "cont", corpus, **kw), embedder=minilm)
    before = load_inverter(tiny_run, embedder=minilm)
    assert out.fingerprint == before.fingerprint and out.info["started_from"]["model"] == before.model_id
    for mine, theirs in ((out.hypothesizer, before.hypothesizer), (out.corrector, before.corrector)):
        a, b = mine.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys() and any((a[k].float() - b[k].float()).abs().max() > 0 for k in a)
    # both rounds of corrector data exist: round 1 is the corrector's own correction of round 0
    assert sorted(p.name.split(".")[0] for p in (tmp_path / "cont" / "corrector_data").glob("round*.npz")) == \
        ["round0", "round1"]
    assert (tmp_path / "cont" / "checkpoints" / "corrector-round1" / "done.json").exists()

    # interrupted and resumed, continued training reaches the same weights
    parts = tmp_path / "parts"
    with pytest.raises(TrainingInterrupted):
        train(tiny_config(parts, corpus, **kw), embedder=minilm, stop_after=13)
    train(tiny_config(parts, corpus, **kw), resume=True, embedder=minilm)
    for name in ("hypothesizer.safetensors", "corrector.safetensors"):
        assert_same_weights(tmp_path / "cont" / name, parts / name)


def test_train_from_refuses_another_embedder(tmp_path, tiny_run, corpus_file):
    from unembed.embedders import CallableEmbedder
    from unembed.errors import EmbedderError

    other = CallableEmbedder(lambda texts: [[1.0] * 384 for _ in texts], name="constant")
    with pytest.raises(EmbedderError, match="trained for"):
        train(tiny_config(tmp_path / "x", corpus_file, start_from=str(tiny_run), hypothesizer_steps=2,
                          corrector_steps=0), embedder=other)


def test_sample_seed_draws_other_training_texts_and_keeps_the_splits(tmp_path, corpus_file, minilm):
    import numpy as np

    def sampled(name, **kw):
        out = tmp_path / name
        with pytest.raises(TrainingInterrupted):
            train(tiny_config(out, corpus_file, train_texts=20, hypothesizer_steps=5, corrector_steps=0, **kw),
                  embedder=minilm, stop_after=1)
        return np.load(out / "embeddings" / "train.npy"), (out / "corpus" / "test.txt").read_text()

    default, test_default = sampled("default")
    same, test_same = sampled("same", sample_seed=0)
    other, test_other = sampled("other", sample_seed=1)
    assert np.array_equal(default, same)  # no sample seed: the run's seed
    assert default.shape == other.shape and not np.array_equal(np.sort(default, 0), np.sort(other, 0))
    assert test_default == test_same == test_other
    with pytest.raises(InputError, match="--sample-seed"):
        tiny_config(tmp_path / "bad", corpus_file, sample_seed=-1).check()
