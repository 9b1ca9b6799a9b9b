"""Shared fixtures: a small real corpus and a tiny inverter trained on it once per session."""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
CITIES = ["paris", "london", "berlin", "madrid", "rome", "vienna", "oslo", "lisbon"]
JOBS = ["teacher", "doctor", "baker", "pilot", "farmer", "lawyer", "nurse", "painter"]


def half_written(folder) -> list[Path]:
    """Atomic writes' temporaries left under ``folder``: a file that was never finished."""
    return [p for p in Path(folder).rglob("*") if p.name.endswith(".tmp")]


def assert_same_weights(a_file, b_file, tol: float = 1e-6) -> None:
    """Two safetensors files hold the same tensors, equal to ``tol``."""
    from safetensors.torch import load_file

    a, b = load_file(str(a_file)), load_file(str(b_file))
    assert a.keys() == b.keys(), (a_file, b_file)
    for k in a:
        assert (a[k].float() - b[k].float()).abs().max().item() < tol, (Path(a_file).name, k)


def template_sentences(n: int = 400, seed: int = 0) -> list[str]:
    """Sentences from one template: small enough that a tiny model learns it in seconds."""
    rng = random.Random(seed)
    out = {
        f"{rng.choice(NAMES).title()} lives in {rng.choice(CITIES).title()} and works as a {rng.choice(JOBS)}."
        for _ in range(n)
    }
    return sorted(out)


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(template_sentences()) + "\n")
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    """The system's (Debian's) Chromium, for the browser tests: skipped where it is not installed,
    failed on CI, where it must be."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is needed for the browser tests: apt-get install chromium (.ci/run does)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


@pytest.fixture(scope="session")
def tiny_causal_lm():
    """A builder of tiny Llama causal LMs (untied output matrix, word-level tokenizer) trained here:
    ``build(folder, texts, tokens, eos=..., hidden=..., layers=..., heads=..., max_positions=...,
    steps=..., rng=...)`` trains one for ``steps`` AdamW steps on batches of 16 of ``texts`` drawn
    with ``rng``, and saves the model and its tokenizer in ``folder``. The vocabulary is ``eos``,
    ``[UNK]``, then ``tokens``; the feed-forward is twice ``hidden`` wide."""

    def build(folder: Path, texts: list[str], tokens: list[str], *, eos: str, hidden: int, layers: int, heads: int,
              max_positions: int, steps: int, rng: random.Random) -> Path:
        import torch
        from tokenizers import Tokenizer, models, pre_tokenizers
        from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

        vocab = {t: i for i, t in enumerate([eos, "[UNK]"] + list(tokens))}
        tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=eos, unk_token="[UNK]")
        cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden,
                          num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                          max_position_embeddings=max_positions, tie_word_embeddings=False, bos_token_id=0,
                          eos_token_id=0, pad_token_id=0)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a model this small gains nothing from more, and loses much when the CPU is shared
        torch.manual_seed(0)
        lm = LlamaForCausalLM(cfg)
        opt = torch.optim.AdamW(lm.parameters(), lr=3e-3, weight_decay=0.01)
        lm.train()
        for _ in range(steps):
            enc = fast(rng.sample(texts, 16), return_tensors="pt", padding=True)
            labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
            lm(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).loss.backward()
            opt.step()
            opt.zero_grad()
        torch.set_num_threads(threads)
        lm.save_pretrained(folder)
        fast.save_pretrained(folder)
        return folder

    return build


@pytest.fixture(scope="session")
def minilm():
    from unembed import load_embedder

    return load_embedder("minilm")


def tiny_config(out: Path, corpus: Path, **overrides):
    from unembed.inversion.training import TrainConfig

    base = dict(out=str(out), corpus=str(corpus), model="tiny", init="random", batch_size=16,
                hypothesizer_steps=80, corrector_steps=40, eval_every=40, save_every=20,
                n_validation=10, n_test=10, warmup_steps=10, mixed_precision="no")
    base.update(overrides)
    return TrainConfig(**base)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, corpus_file, minilm) -> Path:
    """A tiny inverter (hypothesizer + corrector) trained for a few dozen steps."""
    from unembed.inversion.training import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    train(tiny_config(out, corpus_file), embedder=minilm)
    return out


@pytest.fixture()
def tiny_inverter(tiny_run, minilm):
    from unembed import load_inverter

    return load_inverter(tiny_run, embedder=minilm, precision="fp32")


# The stores' fixtures (the session's stored vectors, the PostgreSQL server) are shared by the store,
# audit and web tests: made available to every test module here, defined once in test_stores.
from test_stores import pg, vectors  # noqa: E402,F401
