import numpy as np
import pytest

from unembed import load_embedder, load_inverter
from unembed.errors import CheckpointError, EmbedderError, InputError

TEXTS = ["Alice lives in Paris and works as a baker.", "Heidi lives in Oslo and works as a pilot."]


def test_invert_returns_text_cosine_history(tiny_inverter, minilm):
    vecs = minilm.embed(TEXTS)
    res = tiny_inverter.invert(vecs, steps=3, beam=2)
    assert len(res) == 2
    for r, v in zip(res, vecs):
        assert isinstance(r.text, str) and r.text
        # the reported cosine is that of the recovered text's real re-embedding
        again = minilm.embed([r.text])[0]
        assert r.cosine == pytest.approx(float(again @ v / np.linalg.norm(again) / np.linalg.norm(v)), abs=1e-4)
        assert r.history[0].step == 0 and len(r.history) == r.steps + 1
        cos = [s.cosine for s in r.history]
        assert cos == sorted(cos)  # the beam keeps its best: never worse
        assert r.history[-1].text == r.text


def test_sequence_beam_keeps_unique_candidates_ordered_by_cosine(tiny_inverter, minilm):
    res = tiny_inverter.invert(minilm.embed(TEXTS), steps=2, beam=4, early_stop=False)
    for r in res:
        texts = [t for t, _ in r.candidates]
        cos = [c for _, c in r.candidates]
        assert len(texts) == len(set(texts)) and 1 <= len(texts) <= 4
        assert cos == sorted(cos, reverse=True)
        assert r.candidates[0] == (r.text, r.cosine)
        assert r.steps == 2 and r.stopped == "max_steps"


def test_early_stop_fires(tiny_inverter, minilm):
    vecs = minilm.embed(TEXTS)
    res = tiny_inverter.invert(vecs, steps=50, beam=1)
    assert all(r.stopped in ("fixed_point", "patience", "threshold") for r in res)
    assert all(r.steps < 50 for r in res)
    res = tiny_inverter.invert(vecs, steps=5, beam=1, threshold=-1.0)
    assert all(r.stopped == "threshold" and r.steps == 0 for r in res)


def test_embedder_calls_counted_and_texts_never_reembedded(tiny_inverter, minilm):
    vecs = minilm.embed(TEXTS)
    res = tiny_inverter.invert(vecs, steps=3, beam=3)
    stats = tiny_inverter.stats
    assert stats["texts_embedded"] == sum(r.texts_embedded for r in res) > 0
    seen = {s.text for r in res for s in r.history}
    assert stats["texts_embedded"] >= len(seen)
    # each step embeds at most beam*beam new texts per item, plus the first beam
    assert stats["texts_embedded"] <= len(TEXTS) * (3 + 3 * 9)
    assert stats["embedder_calls"] <= 1 + 3


def test_batching_does_not_change_results(tiny_inverter, minilm):
    vecs = minilm.embed(TEXTS + ["Bob lives in Rome and works as a nurse."])
    a = tiny_inverter.invert(vecs, steps=2, beam=2, batch_size=1)
    b = tiny_inverter.invert(vecs, steps=2, beam=2, batch_size=64)
    assert [r.text for r in a] == [r.text for r in b]


def test_save_load_round_trip(tiny_inverter, minilm, tmp_path):
    vecs = minilm.embed(TEXTS)
    before = [r.text for r in tiny_inverter.invert(vecs, steps=1, beam=2)]
    tiny_inverter.save(tmp_path / "copy")
    again = load_inverter(tmp_path / "copy", embedder=minilm)
    assert [r.text for r in again.invert(vecs, steps=1, beam=2)] == before
    assert again.model_id.split("@")[1] == tiny_inverter.model_id.split("@")[1]


@pytest.mark.parametrize(
    "vectors, message",
    [
        (np.zeros((2, 10), np.float32), "dimension 10"),
        (np.full((2, 384), np.nan, np.float32), "NaN"),
        (np.zeros((0, 384), np.float32), "no vectors"),
        (np.zeros((2, 3, 384), np.float32), "2-D"),
        ([["a", "b"]], "numeric"),
    ],
)
def test_bad_vectors_are_refused_clearly(tiny_inverter, vectors, message):
    with pytest.raises(InputError, match=message):
        tiny_inverter.invert(vectors, steps=1)


def test_inf_row_named(tiny_inverter):
    v = np.ones((3, 384), np.float32)
    v[2, 5] = np.inf
    with pytest.raises(InputError, match="row 2"):
        tiny_inverter.invert(v, steps=0)


def test_corrupt_and_missing_checkpoints(tiny_run, tmp_path, minilm):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken, ignore=shutil.ignore_patterns("checkpoints", "embeddings", "corpus", "corrector_data"))
    data = (broken / "corrector.safetensors").read_bytes()
    (broken / "corrector.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_inverter(broken, embedder=minilm)
    (broken / "inverter.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_inverter(broken, embedder=minilm)
    with pytest.raises(CheckpointError, match="no inverter at"):
        load_inverter(tmp_path / "nowhere")


def test_inverter_refuses_other_embedder(tiny_run):
    other = load_embedder(lambda texts: np.ones((len(texts), 768), np.float32), name="other")
    inv = load_inverter(tiny_run, embedder=other)
    target = np.random.default_rng(1).normal(size=(1, 384)).astype(np.float32)  # constant rows are refused
    with pytest.raises(EmbedderError, match="768"):
        inv.invert(target, steps=0)
    rng = np.random.default_rng(0)
    same_dim = load_embedder(lambda texts: rng.normal(size=(len(texts), 384)).astype(np.float32), name="impostor")
    with pytest.raises(EmbedderError, match="probe"):
        load_inverter(tiny_run, embedder=same_dim).invert(target, steps=0)


def test_steps_need_a_corrector(tiny_inverter, minilm):
    tiny_inverter.corrector = None
    with pytest.raises(InputError, match="no corrector"):
        tiny_inverter.invert(minilm.embed(TEXTS), steps=2)
    assert tiny_inverter.invert(minilm.embed(TEXTS), steps=0)[0].stopped == "no_corrector"


def test_invert_texts_and_public_api(tiny_inverter):
    import unembed

    res = tiny_inverter.invert_texts("Carol lives in Rome and works as a doctor.", steps=1, beam=1)
    assert len(res) == 1 and isinstance(res[0], unembed.Inversion)
    with pytest.raises(InputError):
        tiny_inverter.invert_texts([])


def test_bf16_decoding_runs_and_ranks_by_real_cosine(tiny_run, minilm):
    inv = load_inverter(tiny_run, embedder=minilm, precision="bf16")
    vecs = minilm.embed(TEXTS)
    for r, v in zip(inv.invert(vecs, steps=2, beam=2), vecs):
        again = minilm.embed([r.text])[0]
        assert r.cosine == pytest.approx(float(again @ v / np.linalg.norm(again) / np.linalg.norm(v)), abs=1e-4)
    with pytest.raises(InputError, match="precision"):
        load_inverter(tiny_run, embedder=minilm, precision="fp8")


def test_int8_quantisation_error_within_half_a_step():
    import torch

    from unembed.inversion.weights import quantize_int8

    w = torch.randn(300, 257) * torch.logspace(-3, 1, 300)[:, None]  # rows of very different scales
    q, scale = quantize_int8(w)
    assert q.dtype == torch.int8 and scale.shape == (300,)
    err = (w - q.float() * scale[:, None]).abs()
    assert (err <= scale[:, None] / 2 + 1e-7).all()
    assert q.abs().amax(dim=1).eq(127).all()  # each row uses the full range


def test_int8_export_shares_token_embeddings_and_keeps_the_model(tiny_inverter, minilm, tmp_path):
    import torch
    from safetensors.torch import load_file

    from unembed.inversion.weights import INT8_SCALE

    assert "seq2seq.tok.weight" in tiny_inverter.shared_tensors()  # the corrector froze them
    tiny_inverter.save(tmp_path / "q", dtype="int8")
    hyp_file = load_file(str(tmp_path / "q" / "hypothesizer.safetensors"))
    cor_file = load_file(str(tmp_path / "q" / "corrector.safetensors"))
    assert "seq2seq.tok.weight" not in cor_file  # stored once, in the hypothesizer
    assert hyp_file["seq2seq.tok.weight"].dtype == torch.int8 and "seq2seq.tok.weight" + INT8_SCALE in hyp_file
    assert all(v.dtype in (torch.int8, torch.float16, torch.float32) for v in hyp_file.values())
    again = load_inverter(tmp_path / "q", embedder=minilm)
    w = tiny_inverter.hypothesizer.state_dict()["seq2seq.tok.weight"].float()
    w8 = again.hypothesizer.state_dict()["seq2seq.tok.weight"]
    assert ((w - w8).abs() <= w.abs().amax(dim=1, keepdim=True) / 254 + 1e-6).all()
    assert torch.equal(again.corrector.state_dict()["seq2seq.tok.weight"], w8)
    # teacher-forced loss of the quantised hypothesizer stays within 2% of the original's
    e = torch.from_numpy(minilm.embed(TEXTS))
    labels = tiny_inverter.codec.labels(TEXTS, 32)
    with torch.no_grad():
        before = float(tiny_inverter.hypothesizer.eval()(e=e, labels=labels))
        after = float(again.hypothesizer.eval()(e=e, labels=labels))
    assert abs(after - before) / before < 0.02


def test_exploring_samples_are_seeded_and_never_lose_to_the_plain_beam(tiny_inverter, minilm):
    vecs = minilm.embed(TEXTS)
    plain = tiny_inverter.invert(vecs, steps=4, beam=2, early_stop=False)
    a = tiny_inverter.invert(vecs, steps=4, beam=2, explore=3, seed=1, early_stop=False)
    b = tiny_inverter.invert(vecs, steps=4, beam=2, explore=3, seed=1, early_stop=False)
    assert [r.text for r in a] == [r.text for r in b]  # same seed, same samples
    # the first step is the same beam; later the pool only grows, so the best never gets worse
    for p, r in zip(plain, a):
        assert r.history[0] == p.history[0]
        assert [s.cosine for s in r.history] == sorted(s.cosine for s in r.history)
    assert tiny_inverter.stats["texts_embedded"] > 0
    with pytest.raises(InputError, match="temperature"):
        tiny_inverter.invert(vecs, steps=1, explore=2, temperature=0)


def test_sampling_draws_from_the_model(tiny_inverter, minilm):
    import torch

    e = torch.from_numpy(minilm.embed(TEXTS))
    g = torch.Generator().manual_seed(0)
    ids = tiny_inverter.hypothesizer.sample(e, 20, n=5, temperature=1.5, generator=g)
    texts = tiny_inverter.codec.decode(ids)
    assert len(texts) == 10 and len(set(texts)) > 2  # samples differ, unlike greedy decoding


def test_on_step_reports_every_step_of_every_batch_and_changes_nothing(tiny_inverter, minilm):
    vecs = minilm.embed(TEXTS + ["Bob lives in Rome and works as a nurse."])
    plain = tiny_inverter.invert(vecs, steps=3, beam=2, batch_size=2, early_stop=False)
    seen = []
    watched = tiny_inverter.invert(vecs, steps=3, beam=2, batch_size=2, early_stop=False, on_step=seen.append)
    assert [(r.text, r.cosine, r.candidates) for r in watched] == [(r.text, r.cosine, r.candidates) for r in plain]
    assert [(u.step, u.start, len(u.texts)) for u in seen] == [(s, 0, 2) for s in range(4)] + [(s, 2, 1) for s in range(4)]
    for u in seen:  # each update is that step of each item's history, and its beam
        for k, (text, cos) in enumerate(zip(u.texts, u.cosines)):
            item = watched[u.start + k]
            assert (text, cos) == (item.history[u.step].text, pytest.approx(item.history[u.step].cosine))
            assert u.candidates[k][0] == (text, cos) and u.active[k]
    assert seen[3].candidates[1] == watched[1].candidates


def test_an_exception_in_on_step_stops_the_inversion(tiny_inverter, minilm):
    class Stop(Exception):
        pass

    def stop_at_1(update):
        if update.step == 1:
            raise Stop

    with pytest.raises(Stop):
        tiny_inverter.invert(minilm.embed(TEXTS), steps=5, beam=2, on_step=stop_at_1)


def test_token_edits_substitute_insert_delete_and_cut_at_the_most_doubted_positions():
    from unembed.inversion.edits import token_edits

    eos = 9
    ids = [1, 2, 3]
    doubt = [0.1, 5.0, 0.2, 3.0]  # position 1 most doubted, then the end of the text (position 3)
    alts = [[7, 8], [4, eos], [5, 6], [6, 2]]
    out = token_edits(ids, doubt, alts, positions=2, eos_id=eos)
    assert out == [
        [1, 4, 3],  # position 1: alternative 4 in place
        [1],  # EOS in place of token 2 cuts the text
        [1, 4, 2, 3],  # the first non-EOS alternative inserted before it
        [1, 3],  # the token deleted
        [1, 2, 3, 6],  # the end: each alternative appended (inserting 6 repeats this one: dropped)
        [1, 2, 3, 2],
    ]
    assert ids not in out and len(set(map(tuple, out))) == len(out)
    assert token_edits([1], [9.0, 0.0], [[eos], [1]], positions=1, eos_id=eos) == []  # no empty text


def test_edit_proposals_never_offer_the_own_token_or_a_special_one():
    import torch
    from unembed.inversion.edits import proposals

    torch.manual_seed(0)
    lp = torch.randn(2, 4, 12).log_softmax(-1)
    ids = torch.tensor([[3, 4, 5], [6, 7, 0]])
    doubt, alts = proposals(lp, ids, [3, 2], eos_id=2, k=5, banned={0, 1, 2})
    assert alts.shape == (2, 4, 5)
    own = [[3, 4, 5, 2], [6, 7, 2, 0]]
    for b in range(2):
        for j in range(4):
            assert own[b][j] not in alts[b, j].tolist()
            assert not {0, 1} & set(alts[b, j].tolist())
    assert doubt[1, 3] == -float("inf")  # past the end of the second row
    assert doubt[0, 1] == -lp[0, 1, 4]


def test_edits_add_candidates_and_never_lose_to_the_plain_step(tiny_inverter, minilm):
    vecs = minilm.embed(TEXTS)
    plain = tiny_inverter.invert(vecs, steps=1, beam=1, early_stop=False)
    plain_spent = tiny_inverter.stats["texts_embedded"]
    edited = tiny_inverter.invert(vecs, steps=1, beam=1, early_stop=False, edits=4)
    assert tiny_inverter.stats["texts_embedded"] > plain_spent  # the edits were embedded and ranked
    for p, r in zip(plain, edited):
        assert r.history[0] == p.history[0]
        assert r.cosine >= p.cosine - 1e-9  # step 1's pool holds everything the plain step had, and more
    with pytest.raises(InputError, match="edits"):
        tiny_inverter.invert(vecs, steps=1, edits=-1)
