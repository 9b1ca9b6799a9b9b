import torch

from unembed.inversion.models import Corrector, CorrectorConfig, Hypothesizer, HypothesizerConfig, TransformerConfig, load_bert_weights


def tiny(vocab=50, **kw):
    return TransformerConfig(vocab_size=vocab, d_model=32, n_heads=4, d_ff=64, n_encoder_layers=2,
                             n_decoder_layers=2, max_positions=64, dropout=0.0, pad_id=0, bos_id=1, eos_id=2, **kw)


def labels_for(batch=4, length=6, vocab=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(3, vocab, (batch, length), generator=g)
    y[:, -1] = 2
    return y


def test_incremental_decoding_matches_full_decoding():
    torch.manual_seed(0)
    h = Hypothesizer(HypothesizerConfig(embedding_dim=17, n_pseudo_tokens=3, transformer=tiny())).eval()
    s = h.seq2seq
    memory, mask = h.encode(torch.randn(3, 17))
    kv = s.memory_kv(memory)
    ids = torch.randint(3, 50, (3, 7))
    full = s.decode(ids, kv, mask)
    caches = [{} for _ in s.decoder]
    steps = [s.decode(ids[:, i:i + 1], kv, mask, caches, offset=i) for i in range(7)]
    assert torch.allclose(full, torch.cat(steps, 1), atol=1e-5)


def test_hypothesizer_overfits_a_batch_for_any_embedding_dimension():
    torch.manual_seed(0)
    h = Hypothesizer(HypothesizerConfig(embedding_dim=17, n_pseudo_tokens=3, transformer=tiny()))
    e, y = torch.randn(4, 17), labels_for()
    opt = torch.optim.AdamW(h.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = h(e, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first
    h.eval()
    out = h.generate(e, max_len=8)
    assert torch.equal(out[:, :6], y)  # greedy decoding reproduces what it learned


def test_beam_search_returns_distinct_sequences_ranked_by_normalised_log_probability():
    torch.manual_seed(1)
    h = Hypothesizer(HypothesizerConfig(embedding_dim=8, n_pseudo_tokens=2, transformer=tiny())).eval()
    e = torch.randn(2, 8)
    beams = h.generate(e, max_len=5, num_beams=4, num_return=4)
    assert beams.shape[0] == 8

    def score(seq, i):
        seq = seq.tolist()
        seq = seq[: seq.index(2) + 1] if 2 in seq else seq
        mem, mask = h.encode(e[i:i + 1])
        ids = torch.tensor([[1] + seq[:-1]])
        lp = h.seq2seq.decode(ids, h.seq2seq.memory_kv(mem), mask).log_softmax(-1)[0]
        return sum(lp[t, tok].item() for t, tok in enumerate(seq)) / len(seq)

    for i in range(2):
        rows = beams[i * 4:(i + 1) * 4]
        assert len({tuple(r.tolist()) for r in rows}) == 4
        scores = [score(r, i) for r in rows]
        assert scores == sorted(scores, reverse=True), scores


def test_rows_that_share_one_memory_attend_as_if_each_had_its_own_copy():
    """A beam's k hypotheses read one encoder output: attention groups their queries against it
    instead of repeating it k times, and must give what the repeated memory gives, row for row,
    with each input's own padding mask."""
    from unembed.inversion.models.transformer import Attention

    torch.manual_seed(2)
    cfg = tiny()
    att = Attention(cfg).eval()
    b, g, t = 3, 4, 5
    memory = torch.randn(b, t, cfg.d_model)
    mask = torch.ones(b, 1, 1, t, dtype=torch.bool)
    mask[1, ..., 3:] = False  # the second input's memory is padded
    x = torch.randn(b * g, 1, cfg.d_model)  # rows i*g .. i*g+g-1 belong to input i
    kv = att.project_kv(memory)
    shared = att(x, kv, mask)
    repeated = att(x, att.project_kv(memory.repeat_interleave(g, 0)), mask.repeat_interleave(g, 0))
    assert torch.allclose(shared, repeated, atol=1e-6)
    att.train()  # outside incremental decoding the memory is repeated for the fused kernel
    assert torch.allclose(att(x, kv, mask), repeated, atol=1e-6)


def test_corrector_takes_target_hypothesis_and_difference():
    torch.manual_seed(0)
    c = Corrector(CorrectorConfig(embedding_dim=12, n_pseudo_tokens=2, transformer=tiny()))
    e, e_hat = torch.randn(3, 12), torch.randn(3, 12)
    hyp = torch.randint(3, 50, (3, 5))
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[0, 3:] = False
    loss = c(e, e_hat, hyp, mask, labels_for(3))
    loss.backward()
    assert all(p.grad is not None for p in c.project_difference.parameters())
    memory, mem_mask = c.encode(e, e_hat, hyp, mask)
    assert memory.shape == (3, 3 * 2 + 5, 32)
    assert mem_mask.shape == (3, 1, 1, 11) and not mem_mask[0, 0, 0, -1]


def test_bert_warm_start_loads_minilm_layers():
    from safetensors.torch import load_file

    from unembed.embedders import minilm_path

    state = load_file(str(minilm_path() / "model.safetensors"))
    cfg = TransformerConfig(n_encoder_layers=3, n_decoder_layers=2)
    h = Hypothesizer(HypothesizerConfig(transformer=cfg))
    loaded = load_bert_weights(h.seq2seq, state)
    assert torch.equal(h.seq2seq.tok.weight, state["embeddings.word_embeddings.weight"])
    # 3 encoder layers spread over 6: BERT layers 0, 2 (or 3) and 5
    assert torch.equal(h.seq2seq.encoder[2].ff.up.weight, state["encoder.layer.5.intermediate.dense.weight"])
    assert torch.equal(h.seq2seq.decoder[0].attn.query.weight, state["encoder.layer.0.attention.self.query.weight"])
    assert not any(".cross." in n for n in loaded)  # cross-attention stays fresh


def test_decoding_restores_the_spacing_wordpiece_drops():
    """encode -> decode gives back the normalised text for the common shapes of addresses, code and prose
    (the embedder cannot see this spacing, so an inverter's exact match is capped by it)."""
    import pytest

    from unembed.inversion.tokenization import Codec

    codec = Codec.default()
    cases = [
        "grace: hello there; see https://example.com/docs now.",
        "greg kroah-hartman <gregkh@linuxfoundation.org>",
        "the contract was sent to rios@bartlett.com. please return it by friday.",
        "write to madhav@thakkar-wali.co.in today",
        'set it to "on" (default: off).',
        "it costs $4.50, i.e. 10% less than 20,000 units at 10:30 on 2023-05-01.",
        "thanks for your email of november 22, 2023.",
        "a salary of 3 289,42 kr",
        "call open() or write(2) from c++ at at&t, and/or edit androidmanifest.xml",
        "found under /usr/lib/graywolf/bin and in the workers' rights of o'brien",
        "#include <stdio.h>",
    ]
    ids = codec.ids(cases)
    assert codec.decode(codec.pad(ids)[0]) == cases
    assert codec.decode(codec.pad(codec.ids(["invoice of 2024: 5 items"]))[0]) == ["invoice of 2024: 5 items"]
    with pytest.raises(AssertionError):  # a sentence after an abbreviation-like word stays a guess
        assert codec.decode(codec.pad(codec.ids(["see power.wakeup for details"]))[0]) == ["see power.wakeup for details"]
