"""Extension points take a new piece through their registry alone: a store reader, an embedder adapter
(here) and a defence (test_defences.py), each written in one file under tests/plugins/."""
from __future__ import annotations

import numpy as np

from unembed.audit import Audit
from unembed.audit.stores import open_store, schemes, uri_forms
from unembed.embedders import load_embedder, registry

from plugins import toy_embedder, toy_store  # noqa: F401  (importing a plugin registers it)


def test_a_store_reader_in_one_file_is_opened_by_its_scheme(tmp_path):
    vecs = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    np.save(tmp_path / "v.npy", vecs)
    assert "npy:///FILE.npy" in uri_forms() and "npy" in {s.name for s in schemes()}
    with open_store(f"npy://{tmp_path / 'v.npy'}") as reader:
        got = np.concatenate([b.vectors for b in reader.batches(2)])
        assert reader.count() == 5 and np.array_equal(got, vecs)


def test_an_audit_runs_on_a_plugged_in_store(tmp_path, tiny_inverter, minilm):
    texts = ["Alice lives in Paris and works as a baker.", "Bob lives in Rome and works as a pilot."]
    np.save(tmp_path / "s.npy", minilm.embed(texts))
    (tmp_path / "s.txt").write_text("\n".join(texts) + "\n")
    with Audit(f"npy://{tmp_path / 's.npy'}", tiny_inverter, tmp_path / "out", steps=1, beam=1) as job:
        assert job.check()["status"] == "match"
        summary = job.run()
    assert summary["n"] == 2 and summary["store"]["kind"] == "npy"


def test_an_embedder_adapter_in_one_file_is_loaded_by_its_spec():
    emb = load_embedder("hash:16")
    a, b = emb.embed(["x", "y"]), emb.embed(["x"])
    assert a.shape == (2, 16) and np.allclose(a[0], b[0]) and not np.allclose(a[0], a[1])
    assert "hash:D (toy)" in registry.usage()
    assert emb.fingerprint()["dim"] == 16
