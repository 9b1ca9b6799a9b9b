"""The encoder-decoder transformer both inverter models are built on, top to bottom in one file.

Layout: BERT's post-LayerNorm blocks (Devlin et al. 2019) so that an encoder *and* a decoder can be
warm-started from a pretrained BERT checkpoint, the "BERT2BERT" recipe of Rothe, Narayan & Severyn,
"Leveraging Pre-trained Checkpoints for Sequence Generation Tasks" (TACL 2020): the decoder's
self-attention and feed-forward weights come from the checkpoint, its cross-attention is fresh.
Token and position embeddings are shared by encoder, decoder and the (tied) output layer.

The encoder never sees token ids directly: callers hand it ``inputs_embeds`` (pseudo-tokens projected
from embeddings, optionally followed by embedded hypothesis tokens), which is what lets one module
serve both the hypothesizer and the corrector. Decoding keeps a key/value cache, and ``generate``
does batched greedy or token-level beam search.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TransformerConfig:
    vocab_size: int = 30522
    d_model: int = 384
    n_heads: int = 12
    d_ff: int = 1536
    n_encoder_layers: int = 6
    n_decoder_layers: int = 6
    max_positions: int = 512
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    pad_id: int = 0
    bos_id: int = 101  # [CLS] in BERT's WordPiece vocabulary
    eos_id: int = 102  # [SEP]


class Attention(nn.Module):
    """Multi-head attention with BERT's parameter layout (query/key/value/output projections)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.query = nn.Linear(cfg.d_model, cfg.d_model)
        self.key = nn.Linear(cfg.d_model, cfg.d_model)
        self.value = nn.Linear(cfg.d_model, cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def split(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, H, T, D/H)
        b, t, d = x.shape
        return x.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2)

    def project_kv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split(self.key(x)), self.split(self.value(x))

    def forward(self, x, kv: tuple[torch.Tensor, torch.Tensor], mask=None, causal=False):
        q = self.split(self.query(x))
        k, v = kv
        if q.shape[2] == 1 and not self.training:
            # One new position per row (incremental decoding): two small matmuls are several times
            # faster on CPU than the fused kernel, which is built for long queries. When g rows share
            # one memory (a beam's k hypotheses reading the same encoder output), their queries are
            # stacked against it once rather than the memory repeated g times.
            rows, g = q.shape[0], q.shape[0] // k.shape[0]
            if g > 1:
                q = q.reshape(k.shape[0], g, q.shape[1], q.shape[3]).transpose(1, 2)  # (b, H, g, D/H)
            s = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
            if mask is not None:
                s = s.masked_fill(~mask, float("-inf"))
            y = s.softmax(-1) @ v
            if g > 1:
                y = y.transpose(1, 2).reshape(rows, y.shape[1], 1, y.shape[3])
        else:
            if k.shape[0] != q.shape[0]:  # grouped rows outside incremental decoding: repeat the memory
                g = q.shape[0] // k.shape[0]
                k, v = k.repeat_interleave(g, dim=0), v.repeat_interleave(g, dim=0)
                mask = None if mask is None else mask.repeat_interleave(g, dim=0)
            p = self.dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        b, h, t, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * dh))


class FeedForward(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.up = nn.Linear(cfg.d_model, cfg.d_ff)
        self.down = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x):
        return self.down(F.gelu(self.up(x)))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.attn = Attention(cfg)
        self.ln_attn = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.ff = FeedForward(cfg)
        self.ln_ff = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, mask):
        x = self.ln_attn(x + self.drop(self.attn(x, self.attn.project_kv(x), mask)))
        return self.ln_ff(x + self.drop(self.ff(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.attn = Attention(cfg)
        self.ln_attn = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.cross = Attention(cfg)
        self.ln_cross = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.ff = FeedForward(cfg)
        self.ln_ff = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, memory_kv, memory_mask, cache: dict | None = None):
        """x: (B, T, D). With ``cache`` (incremental decoding) x holds only the new positions."""
        k, v = self.attn.project_kv(x)
        causal = True
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
            causal = x.shape[1] > 1  # a single new token may attend to every cached position
        x = self.ln_attn(x + self.drop(self.attn(x, (k, v), causal=causal)))
        x = self.ln_cross(x + self.drop(self.cross(x, memory_kv, memory_mask)))
        return self.ln_ff(x + self.drop(self.ff(x)))


class Seq2Seq(nn.Module):
    """Encoder over given input vectors, autoregressive decoder over WordPiece ids."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.tok = nn.Embedding(cfg.vocab_size, d, padding_idx=cfg.pad_id)
        self.pos = nn.Embedding(cfg.max_positions, d)
        self.type_vec = nn.Parameter(torch.zeros(d))  # BERT's token-type-0 vector, added everywhere
        self.ln_emb = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_decoder_layers))
        # BERT's masked-LM head: transform, then logits tied to the token embeddings.
        self.head_dense = nn.Linear(d, d)
        self.head_ln = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.head_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    # -- embeddings ---------------------------------------------------------------------------
    def embed_positions(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Add position and type vectors to (B, T, D) inputs, then LayerNorm (BERT's embedding layer)."""
        t = x.shape[1]
        if offset + t > self.cfg.max_positions:
            raise ValueError(f"sequence of {offset + t} positions exceeds max_positions={self.cfg.max_positions}")
        pos = self.pos(torch.arange(offset, offset + t, device=x.device))
        return self.drop(self.ln_emb(x + pos + self.type_vec))

    # -- encoder ------------------------------------------------------------------------------
    def encode(self, inputs_embeds: torch.Tensor, mask: torch.Tensor | None = None):
        """inputs_embeds (B, S, D); mask (B, S) bool, True = attend. Returns memory and its mask."""
        x = self.embed_positions(inputs_embeds)
        attn_mask = None if mask is None else mask[:, None, None, :]
        for layer in self.encoder:
            x = layer(x, attn_mask)
        return x, attn_mask

    # -- decoder ------------------------------------------------------------------------------
    def memory_kv(self, memory: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [layer.cross.project_kv(memory) for layer in self.decoder]

    def decode(self, ids, memory_kv, memory_mask, caches: list[dict] | None = None, offset: int = 0):
        x = self.embed_positions(self.tok(ids), offset)
        for i, layer in enumerate(self.decoder):
            x = layer(x, memory_kv[i], memory_mask, None if caches is None else caches[i])
        h = self.head_ln(F.gelu(self.head_dense(x)))
        # F.linear on the leaf weight, not h @ weight.t(): under autocast the cast of a leaf is cached for
        # the whole generation, the cast of its transposed view is redone (a 30522 x 384 copy) every step.
        return F.linear(h, self.tok.weight, self.head_bias)

    def loss(self, memory, memory_mask, labels: torch.Tensor) -> torch.Tensor:
        """Teacher-forced cross-entropy. labels (B, T): target ids ending in EOS, pad elsewhere."""
        bos = torch.full_like(labels[:, :1], self.cfg.bos_id)
        inputs = torch.cat([bos, labels[:, :-1]], dim=1)  # positions after EOS are ignored below
        logits = self.decode(inputs, self.memory_kv(memory), memory_mask)
        return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=self.cfg.pad_id)

    @torch.no_grad()
    def next_token_logprobs(self, memory, memory_mask, ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forced log-probabilities (B, T + 1, V) of the token at each position of ``ids`` (B, T,
        right-padded) given the tokens before it; row T scores what follows the last token (EOS or more)."""
        bos = torch.full_like(ids[:, :1], self.cfg.bos_id)
        logits = self.decode(torch.cat([bos, ids], dim=1), self.memory_kv(memory), memory_mask)
        return logits.float().log_softmax(-1)

    # -- generation ---------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, memory, memory_mask, max_len: int, num_beams: int = 1, num_return: int = 1):
        """Batched greedy (num_beams=1) or token-level beam search with a key/value cache.

        Returns ids (B * num_return, L) without BOS, padded after EOS, ordered per input by score
        (length-normalised log-probability for beam search).
        """
        if num_beams == 1:
            if num_return != 1:
                raise ValueError("greedy decoding returns one sequence per input")
            return self._greedy(memory, memory_mask, max_len)
        return self._beam(memory, memory_mask, max_len, num_beams, min(num_return, num_beams))

    @torch.no_grad()
    def sample(self, memory, memory_mask, max_len: int, n: int, temperature: float = 1.0,
               generator: torch.Generator | None = None):
        """``n`` sequences per input drawn from the model's distribution at ``temperature``.

        Returns ids (B * n, L) without BOS, padded after EOS, the n samples of each input together.
        Used to escape the correction loop's fixed point: a deterministic decoder given the same
        hypothesis writes the same correction every time, a sample need not."""
        memory = memory.repeat_interleave(n, dim=0)
        if memory_mask is not None:
            memory_mask = memory_mask.repeat_interleave(n, dim=0)
        return self._greedy(memory, memory_mask, max_len, temperature=temperature, generator=generator)

    def _greedy(self, memory, memory_mask, max_len, temperature: float = 0.0, generator=None):
        cfg, b = self.cfg, memory.shape[0]
        kv, caches = self.memory_kv(memory), [{} for _ in self.decoder]
        ids = torch.full((b, 1), cfg.bos_id, dtype=torch.long, device=memory.device)
        out, done = [], torch.zeros(b, dtype=torch.bool, device=memory.device)
        for t in range(max_len):
            logits = self.decode(ids, kv, memory_mask, caches, offset=t)[:, -1]
            if temperature > 0:
                probs = (logits.float() / temperature).softmax(-1)
                nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
            else:
                nxt = logits.argmax(-1)
            nxt = nxt.masked_fill(done, cfg.pad_id)
            out.append(nxt)
            done |= nxt == cfg.eos_id
            if done.all():
                break
            ids = nxt[:, None]
        return torch.stack(out, dim=1)

    def _beam(self, memory, memory_mask, max_len, k, n_ret):
        cfg, b, dev = self.cfg, memory.shape[0], memory.device
        # The k beams of an input share its memory: not repeated, attention groups their queries.
        kv, caches = self.memory_kv(memory), [{} for _ in self.decoder]
        scores = torch.zeros(b, k, device=dev)
        scores[:, 1:] = -1e9  # all beams start identical: keep one alive at step 0
        seqs = torch.zeros(b * k, 0, dtype=torch.long, device=dev)
        done = torch.zeros(b * k, dtype=torch.bool, device=dev)
        lengths = torch.zeros(b * k, device=dev)
        ids = torch.full((b * k, 1), cfg.bos_id, dtype=torch.long, device=dev)
        for t in range(max_len):
            logits = self.decode(ids, kv, memory_mask, caches, offset=t)[:, -1]
            # The k best of all k x V extensions are among each beam's own k best: rank k x k
            # candidates instead of k x V (log-probabilities only for those). log_softmax reads the
            # half-precision logits and writes float32 in one pass, where .float() then logsumexp
            # made three passes over (B*k, V).
            top_tok = logits.topk(k, dim=-1).indices  # (B*k, k)
            logp = F.log_softmax(logits, dim=-1, dtype=torch.float32).gather(1, top_tok)
            # A finished beam can only extend with padding, at no cost.
            logp[done] = -1e9
            logp[done, 0] = 0.0
            top_tok[done, 0] = cfg.pad_id
            cand = (scores.view(-1, 1) + logp).view(b, k * k)
            top, idx = cand.topk(k, dim=-1)
            src = (idx // k) + torch.arange(b, device=dev)[:, None] * k
            tok = top_tok.view(b, k * k).gather(1, idx)
            src, tok = src.view(-1), tok.view(-1)
            seqs = torch.cat([seqs[src], tok[:, None]], dim=1)
            done = done[src] | (tok == cfg.eos_id)
            lengths = lengths[src] + (tok != cfg.pad_id).float()
            scores = top
            for c in caches:
                c["k"], c["v"] = c["k"][src], c["v"][src]
            if done.all():
                break
            ids = tok[:, None]
        norm = scores.view(-1) / lengths.clamp(min=1)
        order = norm.view(b, k).argsort(dim=-1, descending=True)[:, :n_ret]
        pick = (order + torch.arange(b, device=dev)[:, None] * k).view(-1)
        return seqs[pick]


def load_bert_weights(model: Seq2Seq, state: dict[str, torch.Tensor]) -> list[str]:
    """Warm-start ``model`` from a BERT state dict (BERT2BERT, Rothe et al. 2020).

    Embeddings are copied; encoder layer i takes BERT layer i; decoder layer i takes BERT's self-
    attention and feed-forward weights of layer i (cross-attention stays fresh). When the model has
    fewer layers than the checkpoint, layers are taken evenly spread over the checkpoint's depth.
    Returns the names of parameters that were loaded.
    """
    state = {k.removeprefix("bert."): v for k, v in state.items()}
    n_ckpt = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layer."))
    own = model.state_dict()
    loaded: dict[str, torch.Tensor] = {}

    def put(dst: str, src: str):
        if src not in state:
            return
        if own[dst].shape != state[src].shape:
            raise ValueError(f"cannot warm-start {dst}: shape {tuple(own[dst].shape)} vs checkpoint {tuple(state[src].shape)}")
        loaded[dst] = state[src]

    put("tok.weight", "embeddings.word_embeddings.weight")
    put("ln_emb.weight", "embeddings.LayerNorm.weight")
    put("ln_emb.bias", "embeddings.LayerNorm.bias")
    if "embeddings.position_embeddings.weight" in state:
        pos = state["embeddings.position_embeddings.weight"][: own["pos.weight"].shape[0]]
        if pos.shape == own["pos.weight"].shape:
            loaded["pos.weight"] = pos
    if "embeddings.token_type_embeddings.weight" in state:
        loaded["type_vec"] = state["embeddings.token_type_embeddings.weight"][0]

    def spread(n: int) -> list[int]:
        return [round(i * (n_ckpt - 1) / max(n - 1, 1)) if n > 1 else n_ckpt - 1 for i in range(n)]

    block = {
        "attn.query": "attention.self.query", "attn.key": "attention.self.key",
        "attn.value": "attention.self.value", "attn.out": "attention.output.dense",
        "ln_attn": "attention.output.LayerNorm", "ff.up": "intermediate.dense",
        "ff.down": "output.dense", "ln_ff": "output.LayerNorm",
    }
    for stack, n in (("encoder", model.cfg.n_encoder_layers), ("decoder", model.cfg.n_decoder_layers)):
        for i, j in enumerate(spread(n)):
            for ours, theirs in block.items():
                for p in ("weight", "bias"):
                    put(f"{stack}.{i}.{ours}.{p}", f"encoder.layer.{j}.{theirs}.{p}")
    model.load_state_dict(loaded, strict=False)
    return sorted(loaded)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class EmbeddingProjection(nn.Module):
    """An embedding vector -> k pseudo-token vectors for the encoder (Morris et al. 2023, §4).

    ``Linear(E, D) -> GELU -> Linear(D, k*D)``, reshaped to (B, k, D). Works for any embedding size E.
    """

    def __init__(self, embedding_dim: int, d_model: int, n_tokens: int, dropout: float = 0.1):
        super().__init__()
        self.n_tokens, self.d_model = n_tokens, d_model
        self.inp = nn.Linear(embedding_dim, d_model)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(d_model, n_tokens * d_model)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(F.gelu(self.inp(e)))).view(-1, self.n_tokens, self.d_model)
