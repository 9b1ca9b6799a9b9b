"""The inverter that ships in the repository: present, within its size budget, documented, working."""
import json

import numpy as np

from unembed import load_inverter
from unembed.inversion.inverter import SHIPPED_DIR

FOLDER = SHIPPED_DIR / "minilm"


def test_shipped_folder_is_complete_and_within_60_mb():
    names = {p.name for p in FOLDER.iterdir()}
    assert {"inverter.json", "hypothesizer.safetensors", "corrector.safetensors", "tokenizer.json", "MODEL_CARD.md"} <= names
    total = sum(p.stat().st_size for p in FOLDER.iterdir() if p.is_file())
    assert total <= 60 * 1024 * 1024, f"{total / 2**20:.1f} MiB"
    cfg = json.loads((FOLDER / "inverter.json").read_text())
    assert cfg["embedder"]["name"] == "minilm" and cfg["embedder"]["dim"] == 384
    assert cfg["weights_dtype"] == "int8" and cfg["corrector_shares"] == ["seq2seq.tok.weight"]


def test_shipped_inverter_recovers_text(minilm):
    inv = load_inverter("minilm", embedder=minilm)
    assert inv.corrector is not None and inv.model_id.startswith("minilm@")
    texts = ["paris is the capital and most populous city of france.",
             "what is the largest planet in the solar system?"]
    res = inv.invert(minilm.embed(texts), steps=2, beam=2)
    # a sanity floor far below the measured quality (BENCHMARKS.md), far above an untrained model's ~0.1
    assert np.mean([r.cosine for r in res]) > 0.8
    assert all(r.history[-1].cosine >= r.history[0].cosine for r in res)


LM_FOLDER = SHIPPED_DIR / "gemma3-270m"


def test_the_shipped_lm_inverter_is_complete_within_60_mb_and_the_default():
    from unembed.lm import load_lm_inverter

    names = {p.name for p in LM_FOLDER.iterdir()}
    assert {"lm_inverter.json", "model.safetensors", "tokenizer.json", "MODEL_CARD.md"} <= names
    assert "neighbours.npz" not in names  # it would hold training prompts: corpus text stays out of the repository
    total = sum(p.stat().st_size for p in LM_FOLDER.iterdir() if p.is_file())
    assert total <= 60 * 1024 * 1024, f"{total / 2**20:.1f} MiB"
    inv = load_lm_inverter()
    assert inv.folder == LM_FOLDER and inv.target == "gemma3-270m" and inv.access.spec == "probs:4"
    # it reads Gemma's compact distributions: 4 positions x (640 + 1) numbers, and writes text from them
    cfg = inv.model.cfg
    assert (cfg.positions, cfg.feature_dim) == (4, 641)
    features = np.asarray(inv.model.feature_mean.numpy(), np.float32)[None, None].repeat(4, axis=1)
    (text,) = inv.invert(features)
    assert isinstance(text, str) and text.strip()
