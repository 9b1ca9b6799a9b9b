"""An inverter folder is validated against itself and its weights, with checksums (issue 13, defect 5)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from unembed import load_inverter
from unembed.errors import CheckpointError
from unembed.inversion.inverter import SHIPPED_DIR, check_integrity, integrity


def copy_run(tiny_run: Path, dest: Path) -> Path:
    shutil.copytree(tiny_run, dest, ignore=shutil.ignore_patterns("checkpoints", "embeddings", "corpus", "corrector_data"))
    return dest


def edit(folder: Path, change) -> None:
    cfg = json.loads((folder / "inverter.json").read_text())
    change(cfg)
    (folder / "inverter.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("n_heads, message", [
    (7, "not divisible by n_heads 7"),
    (0, "n_heads must be a positive integer, not 0"),
    ("8", "n_heads must be a positive integer"),
    (8, "was changed after the inverter was saved"),  # fits the weights' shapes: only the checksum sees it
])
def test_a_changed_n_heads_is_refused_with_one_line(tiny_run, tmp_path, minilm, n_heads, message):
    folder = copy_run(tiny_run, tmp_path / "inv")
    edit(folder, lambda cfg: cfg["hypothesizer"]["transformer"].__setitem__("n_heads", n_heads))
    with pytest.raises(CheckpointError, match=message) as info:
        load_inverter(folder, embedder=minilm)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["hypothesizer"].__setitem__("embedding_dim", -3), "embedding_dim must be a positive integer"),
    (lambda c: c["corrector"]["transformer"].__setitem__("dropout", 2.0), r"dropout must be a number in \[0, 1\)"),
    (lambda c: c["hypothesizer"]["transformer"].__setitem__("eos_id", 10**9), "outside the vocabulary"),
    (lambda c: c["hypothesizer"].__setitem__("surprise", 1), "unknown field"),
    (lambda c: c.__setitem__("max_tokens", 10**6), "does not fit max_positions"),
    (lambda c: c.__setitem__("hypothesizer", []), "is not an object"),
])
def test_every_config_field_is_validated(tiny_run, tmp_path, minilm, change, message):
    folder = copy_run(tiny_run, tmp_path / "inv")
    edit(folder, change)
    with pytest.raises(CheckpointError, match=message):
        load_inverter(folder, embedder=minilm)


def test_changed_weights_are_refused_by_their_checksum(tiny_run, tmp_path, minilm):
    folder = copy_run(tiny_run, tmp_path / "inv")
    data = bytearray((folder / "corrector.safetensors").read_bytes())
    data[-5] ^= 0x01  # one bit in a weight: still a readable file
    (folder / "corrector.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrector.safetensors does not match the checksum"):
        load_inverter(folder, embedder=minilm)


def test_a_saved_folder_records_its_checksums_and_loads(tiny_run, minilm):
    cfg = json.loads((Path(tiny_run) / "inverter.json").read_text())
    assert set(cfg["integrity"]["files"]) >= {"hypothesizer.safetensors", "tokenizer.json"}
    load_inverter(tiny_run, embedder=minilm)


def test_the_shipped_inverter_records_checksums_that_match_its_files():
    folder = SHIPPED_DIR / "minilm"
    cfg = json.loads((folder / "inverter.json").read_text())
    assert cfg["integrity"] == integrity(folder, cfg)
    check_integrity(folder, cfg)
