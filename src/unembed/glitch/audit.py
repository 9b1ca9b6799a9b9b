"""Glitch-token audit: find the tokens of a vocabulary that a model never (or barely) learned.

A token whose embedding row was never trained keeps its random initialisation (or drifts with weight
decay); the model cannot use it, and an embedder cannot tell such tokens apart, so text holding them
cannot be recovered from its vector. This module finds them the ways the field does and compares the
ways on the same vocabulary:

* **clustering** of the token-embedding matrix (k-means): tokens close to the global centroid, and
  tokens far from their own cluster's centre, are candidates. Rumbelow & Watkins, "SolidGoldMagikarp
  (plus, prompt generation)", LessWrong 2023 (the glitch tokens of GPT-2/3 sat nearest the centroid);
  Li et al., "GlitchHunter", ASE 2024 (iterated clustering of the embedding space).
* **weight indicators** (Land & Bartolo, "Fishing for Magikarp: Automatically Detecting Under-trained
  Tokens in Large Language Models", EMNLP 2024, arXiv:2405.05417): the L2 norm of the input-embedding
  row, and the cosine distance of each output (unembedding) row to the mean of the known-unused tokens'
  rows after the first principal component is removed. A method's candidates are its most suspicious
  2% (the paper's threshold). The indicator is built from known-unused rows, so its AUC at finding
  known-unused tokens is *cross-fitted*: each half of them is scored by an indicator built from the
  other half (an in-sample AUC, which is circular, is reported beside it only to show the difference).
* **tokenizer checks**: tokens that no probe string encodes to (unreachable) and tokens that do not
  survive decode -> encode.
* **verification by behaviour**. Causal LMs: the paper's test, prompts that ask the model to repeat
  the token; the token is verified when its own probability stays below 0.01 in the first three
  generated positions of every prompt, rejected above 0.1. Encoders and embedders: the token goes into
  carrier sentences (by id, so tokens no string reaches can be tested too) and we measure whether it
  moves the sentence embedding at all and whether different tokens make sentences indistinguishable
  (collisions), both relative to what typical tokens of the same vocabulary do; an inverter, when
  given, is asked to recover the token from those sentence vectors.

Precision and recall of every method are measured against the tokens behaviour verifies, pooled over
every method's candidates plus a random control sample of the vocabulary (TREC-style pooling: recall
is recall within the pool; the control sample estimates what all methods missed).
"""
from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import CheckpointError, InputError, UnembedError
from ..reporting import LogReporter, Reporter

log = logging.getLogger(__name__)

TOP_FRACTION = 0.02  # Magikarp: verify the lowest 2% of an indicator
VERIFY_BELOW = 0.01  # Magikarp: a token whose own probability stays below this is verified
REJECT_ABOVE = 0.1  # ... and above this rejected
COLLISION_FRACTION = 0.25  # "indistinguishable": closer to another token's sentence than 1/4 of the typical gap
INERT_FRACTION = 0.25  # "does not move the sentence": less than 1/4 of a typical token's shift
COLLISION_CROWD = 3  # a glitch token collides with a crowd; a word and its plural collide only with each other
MIN_CONTROL = 10  # encoders: the fewest control tokens that calibrate the carrier-sentence test
TYPICAL_PAIRS_FROM = 2000  # the typical gap between two tokens' sentences: pairs of at most this many controls

# Token strings that tokenizers use for slots reserved but never filled (BERT, Gemma, Llama 3, fairseq).
KNOWN_UNUSED_PATTERNS = (
    r"\[unused\d+\]",
    r"<unused\d+>",
    r"<\|reserved_special_token_\d+\|>",
    r"<\|reserved_\d+\|>",
    r"<\|unused_?\d+\|>",
    r"madeupword\d+",
)
_KNOWN_UNUSED = re.compile("|".join(f"(?:{p})" for p in KNOWN_UNUSED_PATTERNS), re.IGNORECASE)

# Carrier sentences for encoders; {t} is the token under test.
CARRIERS = (
    "The word {t} appears in this sentence.",
    "She said {t} and then left the room.",
    "I read about {t} in the newspaper yesterday.",
)

# Repeat prompts for causal LMs, in the spirit of Land & Bartolo's verification prompts (our wording).
# Every prompt ends with the slot the model should fill with the token: the prompt given to the model
# is the text before that last {t}.
REPEAT_PROMPTS = (
    ("copy", "A copying machine prints back exactly what it is given. Its log:"
             + "\nIn: «{t}» Out: «{t}»" * 5 + "\nIn: «{t}» Out: «{t}"),
    ("say", "User: Please say «{t}» back to me, nothing else.\nAssistant: «{t}"),
    ("repeat", "The same word, written again and again:" + " {t}" * 12),
)

METHOD_INFO = {
    "l2_norm": "low L2 norm of the input-embedding row (Land & Bartolo 2024)",
    "centroid_distance": "close to the centroid of all token embeddings (Rumbelow & Watkins 2023)",
    "cluster_distance": "far from the centre of its own k-means cluster (clustering analyses; GlitchHunter)",
    "magikarp": "cosine distance to the mean known-unused row, first principal component removed "
                "(Land & Bartolo 2024); cross-fitted on known-unused tokens",
    "unreachable": "tokenizer check: no probe string encodes to the token",
    "round_trip": "tokenizer check: reachable, but does not survive decode -> encode (alone or after an anchor word)",
}
RANKED_METHODS = ("l2_norm", "centroid_distance", "cluster_distance", "magikarp")
BINARY_METHODS = ("unreachable", "round_trip")


# --------------------------------------------------------------------------------------------------
# The model under audit
# --------------------------------------------------------------------------------------------------


@dataclass
class VocabModel:
    """A model's vocabulary and weights, and the way to run it on token ids."""

    name: str
    kind: str  # "encoder" (an embedder) or "causal_lm"
    tokenizer: Any  # a transformers tokenizer
    input_matrix: np.ndarray  # (rows, d) float32
    output_matrix: np.ndarray | None  # (rows, d) float32, the unembedding; None when there is none
    tied: bool
    embedder: Any = None  # encoders: the unembed Embedder
    lm: Any = None  # causal LMs: the transformers model
    path: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def device(self):
        import torch

        module = self.lm if self.lm is not None else self._encoder_module()
        try:
            return next(module.parameters()).device
        except (StopIteration, AttributeError):
            return torch.device("cpu")

    def _encoder_module(self):
        emb = self.embedder
        model = getattr(emb, "model", None)
        if hasattr(emb, "_encoder"):
            return emb._encoder
        return model

    def sentence_vectors(self, seqs: Sequence[Sequence[int]], batch_size: int = 128) -> np.ndarray:
        """Unit-length sentence embeddings of token-id sequences (special tokens included), pooled
        exactly as the embedder pools text."""
        import torch

        if self.kind != "encoder":
            raise UnembedError("sentence vectors need an encoder")
        emb = self.embedder
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        wants_types = "token_type_ids" in getattr(self.tokenizer, "model_input_names", ())
        dev = self.device
        out = []
        for start in range(0, len(seqs), batch_size):
            chunk = seqs[start:start + batch_size]
            width = max(len(s) for s in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for k, s in enumerate(chunk):
                ids[k, :len(s)] = torch.as_tensor(list(s), dtype=torch.long)
                mask[k, :len(s)] = 1
            ids, mask = ids.to(dev), mask.to(dev)
            with torch.inference_mode():
                if hasattr(emb, "_encoder"):  # a plain Hugging Face encoder with stated pooling
                    outputs = emb._encoder(input_ids=ids, attention_mask=mask)
                    if emb.pooling == "pooler":
                        pooled = outputs.pooler_output
                    elif emb.pooling == "cls":
                        pooled = outputs.last_hidden_state[:, 0]
                    else:
                        m = mask.unsqueeze(-1).to(outputs.last_hidden_state.dtype)
                        pooled = (outputs.last_hidden_state * m).sum(1) / m.sum(1).clamp(min=1e-9)
                else:  # a sentence-transformers model: its own modules do the pooling
                    features = {"input_ids": ids, "attention_mask": mask}
                    if wants_types:
                        features["token_type_ids"] = torch.zeros_like(ids)
                    pooled = emb.model(features)["sentence_embedding"]
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
            out.append(pooled.cpu().numpy())
        return np.concatenate(out).astype(np.float32)


def _model_folder_error(spec: str) -> InputError:
    from ..embedders import known_embedders

    return InputError(f"unknown model {spec!r}: use {', '.join(known_embedders()[:1])} or a local Hugging Face "
                      "model folder (encoder or causal LM; models are never downloaded)")


def _config_folder(folder: Path) -> Path:
    """The folder holding config.json (a sentence-transformers folder keeps it in its Transformer module)."""
    modules_file = folder / "modules.json"
    if modules_file.is_file():
        try:
            modules = json.loads(modules_file.read_text(encoding="utf-8"))
            for m in modules:
                if isinstance(m, dict) and str(m.get("type", "")).endswith("Transformer"):
                    return folder / str(m.get("path", ""))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError):
            pass
    return folder


def _is_causal(config: dict) -> bool:
    if config.get("is_encoder_decoder"):
        return False
    archs = config.get("architectures") or []
    return any(str(a).endswith(("ForCausalLM", "LMHeadModel")) for a in archs)


def load_vocab_model(spec: Any) -> VocabModel:
    """Load what the audit needs from ``"minilm"`` (or another bundled embedder), a loaded
    sentence-transformers / Hugging Face :class:`~unembed.embedders.Embedder`, or a local folder
    holding a Hugging Face encoder or causal language model. Never downloads, never runs remote code."""
    from ..embedders import Embedder, known_embedders, load_embedder

    if isinstance(spec, Embedder):
        return _from_embedder(spec, None)
    if isinstance(spec, Path):
        spec = str(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"unknown model {spec!r}: give minilm or a local Hugging Face model folder")
    spec = spec.strip()
    if spec in known_embedders():
        return _from_embedder(load_embedder(spec), spec)
    folder = Path(spec).expanduser()
    if not folder.exists():
        raise _model_folder_error(spec)
    if not folder.is_dir():
        raise InputError(f"model path {spec!r} is a file, not a model folder: give a folder with config.json")
    cfg_dir = _config_folder(folder)
    cfg_file = cfg_dir / "config.json"
    if not cfg_file.is_file():
        raise InputError(f"folder {spec!r} is not a model folder (no config.json): give minilm or a Hugging Face "
                         "model folder")
    try:
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"cannot read {cfg_file}: {' '.join(str(exc).split())}; fix or restore the file") from None
    if _is_causal(config) and not (folder / "modules.json").is_file():  # a sentence-transformers folder embeds
        return _load_causal(folder)
    return _from_embedder(load_embedder(str(folder)), str(folder))


def _from_embedder(emb, path: str | None) -> VocabModel:
    from ..embedders import HFEmbedder, SentenceTransformerEmbedder

    if isinstance(emb, SentenceTransformerEmbedder):
        st = emb.model
        hf = getattr(st[0], "auto_model", None)
        tokenizer = getattr(st, "tokenizer", None)
    elif isinstance(emb, HFEmbedder):
        hf, tokenizer = emb._encoder, emb.tokenizer
    else:
        hf = tokenizer = None
    if hf is None or tokenizer is None or not hasattr(hf, "get_input_embeddings"):
        raise UnembedError(f"a glitch audit needs the model's weights and tokenizer, which {emb.name} does not "
                           "expose: give a local model folder")
    weight = hf.get_input_embeddings().weight.detach().float().cpu().numpy()
    note = ("an encoder has no separate output matrix (BERT-style models tie their masked-LM output layer to "
            "the input embeddings), so the Magikarp indicator is computed on the input embedding matrix")
    return VocabModel(name=emb.name, kind="encoder", tokenizer=tokenizer, input_matrix=weight, output_matrix=weight,
                      tied=True, embedder=emb, path=str(getattr(emb, "path", path) or path), notes=[note])


def _load_causal(folder: Path) -> VocabModel:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
        lm = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False,
                                                  dtype="auto")
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise CheckpointError(f"cannot load the causal LM in {folder}: {' '.join(str(exc).split())[:300]}; check that "
                              "the folder holds a complete model and tokenizer (remote code is never run)") from None
    lm.eval()
    inp = lm.get_input_embeddings().weight
    out_layer = lm.get_output_embeddings()
    out = None if out_layer is None else out_layer.weight
    tied = out is None or out.data_ptr() == inp.data_ptr()
    notes = []
    if out is None:
        notes.append("the model has no output matrix: the Magikarp indicator uses the input embeddings")
    return VocabModel(name=f"hf:{folder.resolve()}", kind="causal_lm", tokenizer=tokenizer,
                      input_matrix=inp.detach().float().cpu().numpy(),
                      output_matrix=None if out is None else out.detach().float().cpu().numpy(),
                      tied=tied, lm=lm, path=str(folder.resolve()), notes=notes)


# --------------------------------------------------------------------------------------------------
# Tokenizer checks
# --------------------------------------------------------------------------------------------------


class _Codec:
    """Batched decode / encode through the fast tokenizer's backend when there is one."""

    def __init__(self, tokenizer):
        from tokenizers import Tokenizer

        self.tok = tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:  # a private copy: the model's own may pad or truncate, and is shared
            backend = Tokenizer.from_str(backend.to_str())
            backend.no_padding()
            backend.no_truncation()
        self.backend = backend

    def decode(self, rows: list[list[int]]) -> list[str]:
        if self.backend is not None:
            return self.backend.decode_batch(rows, skip_special_tokens=False)
        return [self.tok.decode(r, skip_special_tokens=False, clean_up_tokenization_spaces=False) for r in rows]

    def encode(self, texts: list[str], special: bool = False) -> list[list[int]]:
        if self.backend is not None:
            return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=special)]
        return [self.tok.encode(t, add_special_tokens=special) for t in texts]


def vocabulary(tokenizer, rows: int) -> list[str | None]:
    """Token strings by id for ``rows`` ids (``None`` for rows the tokenizer has no token for)."""
    out: list[str | None] = [None] * rows
    for s, i in tokenizer.get_vocab().items():
        if 0 <= i < rows:
            out[i] = s
    return out


def special_ids(tokenizer) -> set[int]:
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    for i, added in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        if getattr(added, "special", False):
            ids.add(int(i))
    return ids


def known_unused(tokens: Sequence[str | None]) -> np.ndarray:
    """Ids of tokens the tokenizer itself marks as reserved-but-unused, plus rows it has no token for
    (embedding matrices padded past the vocabulary)."""
    return np.array([i for i, s in enumerate(tokens) if s is None or _KNOWN_UNUSED.fullmatch(s)], dtype=np.int64)


def tokenizer_checks(tokenizer, rows: int, n_anchors: int = 3) -> dict[str, Any]:
    """Decode -> encode round trip and reachability of every token id below ``rows``.

    A token *survives* when encoding its decoded text gives back exactly that token, alone or after
    an anchor word (WordPiece continuations and SentencePiece's leading space need a word before them).
    A token is *reachable* when some probe string (the token alone, after or before an anchor) encodes
    to a sequence holding it; a token no probe reaches is reported unreachable (for BERT's normaliser,
    for example, accented or CJK continuation pieces and ``[unusedN]``). Byte tokens that decode to a
    partial UTF-8 character are reported apart: text reaches them only inside longer characters.
    """
    codec = _Codec(tokenizer)
    tokens = vocabulary(tokenizer, rows)
    n = len(tokens)
    have = [i for i in range(n) if tokens[i] is not None]
    decoded = [""] * n
    survive = np.zeros(n, dtype=bool)
    reach = np.zeros(n, dtype=bool)
    partial = np.zeros(n, dtype=bool)
    chunk = 4096
    for start in range(0, len(have), chunk):
        ids = have[start:start + chunk]
        texts = codec.decode([[i] for i in ids])
        encs = codec.encode(texts)
        for i, s, e in zip(ids, texts, encs):
            decoded[i] = s
            survive[i] = e == [i]
            reach[i] = i in e
            partial[i] = "\ufffd" in s
    specials = special_ids(tokenizer)
    anchors = sorted((i for i in have if survive[i] and i not in specials and decoded[i].strip().isalpha()
                      and decoded[i].strip().isascii()),
                     key=lambda i: (-len(decoded[i].strip()), i))[:n_anchors]
    todo = [i for i in have if not survive[i]]
    for a in anchors:
        base = codec.encode(codec.decode([[a]]))[0]
        for start in range(0, len(todo), chunk):
            ids = todo[start:start + chunk]
            after = codec.encode(codec.decode([[a, i] for i in ids]))
            before = codec.encode(codec.decode([[i, a] for i in ids]))
            for i, e1, e2 in zip(ids, after, before):
                if e1 == base + [i]:
                    survive[i] = True
                if i in e1 or i in e2:
                    reach[i] = True
    exists = np.array([t is not None for t in tokens])
    unreachable = exists & ~reach & ~partial
    return {"tokens": tokens, "decoded": decoded, "survives": survive, "reachable": reach,
            "unreachable": unreachable, "round_trip_failure": exists & reach & ~survive & ~partial,
            "partial_utf8": partial, "anchors": [tokens[a] for a in anchors], "specials": specials}


# --------------------------------------------------------------------------------------------------
# Clustering and weight indicators
# --------------------------------------------------------------------------------------------------


def kmeans(x: np.ndarray, k: int, seed: int = 0, n_init: int = 3, max_iter: int = 100, tol: float = 1e-6,
           progress: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii 2007); the best of ``n_init``
    runs by inertia. Returns (labels, centres, inertia)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= n:
        raise InputError(f"clusters must be a whole number from 2 to {n} (the vocabulary size), not {k!r}")
    rng = np.random.default_rng(seed)
    sq = np.einsum("ij,ij->i", x, x).astype(np.float64)
    best = None
    for _ in range(n_init):
        centres = np.empty((k, x.shape[1]), dtype=np.float32)
        centres[0] = x[rng.integers(n)]
        d2 = np.maximum(sq - 2 * (x @ centres[0]) + float(centres[0] @ centres[0]), 0)
        for j in range(1, k):
            total = d2.sum()
            pick = rng.integers(n) if total <= 0 else rng.choice(n, p=d2 / total)
            centres[j] = x[pick]
            d2 = np.minimum(d2, np.maximum(sq - 2 * (x @ centres[j]) + float(centres[j] @ centres[j]), 0))
        prev = math.inf
        for _it in range(max_iter):
            dist = np.maximum(sq[:, None] - 2 * (x @ centres.T) + np.einsum("ij,ij->i", centres, centres)[None], 0)
            labels = dist.argmin(1)
            inertia = float(dist[np.arange(n), labels].sum())
            for j in range(k):
                members = labels == j
                if members.any():
                    centres[j] = x[members].mean(0)
                else:  # an empty cluster restarts at the point worst served
                    far = int(dist[np.arange(n), labels].argmax())
                    centres[j] = x[far]
                    labels[far] = j
            if prev - inertia <= tol * max(prev, 1e-12):
                break
            prev = inertia
        dist = np.maximum(sq[:, None] - 2 * (x @ centres.T) + np.einsum("ij,ij->i", centres, centres)[None], 0)
        labels = dist.argmin(1)
        inertia = float(dist[np.arange(n), labels].sum())
        if best is None or inertia < best[2]:
            best = (labels.copy(), centres.copy(), inertia)
        if progress:
            progress()
    return best


def principal_axes(m: np.ndarray, k: int = 2, iterations: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top ``k`` principal axes (rows, by explained variance) of the rows of ``m``.

    Orthogonal (subspace) iteration on the covariance with a few extra vectors, then Rayleigh-Ritz:
    a handful of small matrix products, where a full eigendecomposition stalls on a busy CPU."""
    m64 = m.astype(np.float64)
    mean = m64.mean(0)
    centred = m64 - mean
    cov = centred.T @ centred / max(len(m) - 1, 1)
    d = cov.shape[0]
    q = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, min(d, k + 6))))[0]
    before = None
    for it in range(iterations):
        q = np.linalg.qr(cov @ q)[0]
        if it % 10 == 9:  # stop once the top Ritz values no longer move
            ritz = np.sort(np.linalg.eigvalsh(q.T @ cov @ q))[::-1][:k]
            if before is not None and np.all(np.abs(ritz - before) <= 1e-12 * max(abs(ritz[0]), 1e-30)):
                break
            before = ritz
    values, vectors = np.linalg.eigh(q.T @ cov @ q)
    axes = (q @ vectors[:, ::-1][:, :k]).T
    return mean, axes / np.linalg.norm(axes, axis=1, keepdims=True)


def without_first_pc(m: np.ndarray, axis: np.ndarray | None = None) -> np.ndarray:
    """``m`` with its first principal component projected out of every row (as Magikarp does: the
    axis is fitted on the centred rows and removed from the uncentred ones)."""
    p = principal_axes(m, 1)[1][0] if axis is None else np.asarray(axis, dtype=np.float64)
    m64 = m.astype(np.float64)
    return m64 - np.outer(m64 @ p, p)


def cosine_distance_to_mean(m: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine distance of every row of ``m`` to the mean of the rows ``reference``."""
    mean = m[reference].mean(0)
    norms = np.linalg.norm(m, axis=1) * np.linalg.norm(mean)
    return 1.0 - (m @ mean) / np.maximum(norms, 1e-12)


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    """Area under the ROC curve for "higher score = positive" (Mann-Whitney U; ties count half)."""
    positive = np.asarray(positive, dtype=np.float64)
    negative = np.asarray(negative, dtype=np.float64)
    if len(positive) == 0 or len(negative) == 0:
        return None
    scores = np.concatenate([positive, negative])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0  # 1-based average rank of each group of ties
    ranks[order] = np.repeat(average, counts)
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def crossfit_magikarp(m: np.ndarray, reference: np.ndarray, negatives: np.ndarray, seed: int = 0,
                      first_pc: np.ndarray | None = None) -> dict[str, Any]:
    """The Magikarp indicator with a cross-fitted AUC on the reference (known-unused) tokens.

    The reference set is split in two seeded halves A and B. The indicator built from A's mean scores
    B's tokens and the negatives, and vice versa; the AUC is the mean of the two folds, so no token is
    ever scored by a mean it helped to build. Returns the per-token indicator (cosine distance; low =
    suspicious): out-of-fold for reference tokens, built from all reference tokens for the others.
    ``auc_in_sample`` (every reference token scored by a mean that includes it) is circular and is
    returned only to show how much it flatters the indicator. ``first_pc``: ``m``'s first principal
    axis when already known.
    """
    reference = np.asarray(reference, dtype=np.int64)
    reduced = without_first_pc(m, first_pc)
    full = cosine_distance_to_mean(reduced, reference)
    result: dict[str, Any] = {"indicator": full, "auc": None, "auc_in_sample": None, "folds": []}
    if len(reference) < 4:
        result["reason"] = f"only {len(reference)} reference tokens: cross-fitting needs at least 4"
        return result
    result["auc_in_sample"] = roc_auc(-full[reference], -full[negatives])
    perm = np.random.default_rng(seed).permutation(reference)
    halves = (np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2:]))
    indicator = full.copy()
    aucs = []
    for fit, held in ((halves[0], halves[1]), (halves[1], halves[0])):
        score = cosine_distance_to_mean(reduced, fit)
        indicator[held] = score[held]
        auc = roc_auc(-score[held], -score[negatives])
        aucs.append(auc)
        result["folds"].append({"fit": int(len(fit)), "held_out": int(len(held)), "auc": auc})
    result["indicator"] = indicator
    result["auc"] = float(np.mean(aucs))
    return result


def wilson_upper(k: int, n: int, z: float = 1.96) -> float:
    """Upper end of the Wilson score interval for a proportion of ``k`` in ``n`` (95% by default)."""
    if n <= 0:
        return 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def suspicion_ranks(suspicion: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """1-based rank of every token of ``pool`` by suspicion (1 = most suspicious; ties by id); 0 outside."""
    ranks = np.zeros(len(suspicion), dtype=np.int64)
    ids = np.flatnonzero(pool)
    order = ids[np.lexsort((ids, -suspicion[ids]))]
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


# --------------------------------------------------------------------------------------------------
# Building token-id inputs around a slot
# --------------------------------------------------------------------------------------------------


def fill(template: str, text: str) -> str:
    """``template`` with every ``{t}`` replaced by ``text``; a space before a slot is dropped when the
    token's text brings its own (byte-level BPE tokens decode to " word")."""
    if text[:1].isspace():
        template = template.replace(" {t}", "{t}")
    return template.replace("{t}", text)


def placeholder_for(tokenizer, templates: Sequence[str], candidates: Sequence[int]) -> tuple[int, list[list[int]]]:
    """A token whose text, put into every template, encodes back to itself in every slot.

    Returns the token and, per template, its ids (special tokens included). Substituting another id
    for the placeholder then puts that token into the slot whatever its text, as Magikarp does."""
    codec = _Codec(tokenizer)
    for p in candidates:
        text = codec.decode([[p]])[0]
        encoded = codec.encode([fill(t, text) for t in templates], special=True)
        if all(e.count(p) == t.count("{t}") for e, t in zip(encoded, templates)):
            return p, encoded
    raise UnembedError("cannot build the verification inputs with this tokenizer: no word keeps its own token "
                       "inside the templates")


def _placeholder_candidates(checks: dict, eligible: np.ndarray) -> list[int]:
    decoded = checks["decoded"]
    ids = [i for i in np.flatnonzero(eligible & checks["survives"]) if decoded[i].strip().isalpha()
           and decoded[i].strip().isascii() and len(decoded[i].strip()) >= 4]
    return sorted(ids, key=lambda i: (abs(len(decoded[i].strip()) - 7), i))[:50] or list(np.flatnonzero(eligible))[:50]


# --------------------------------------------------------------------------------------------------
# Verification by behaviour
# --------------------------------------------------------------------------------------------------


def verify_encoder(vm: VocabModel, tested: np.ndarray, control: np.ndarray, placeholder_pool: list[int],
                   reporter: Reporter, batch_size: int = 128) -> dict[str, Any]:
    """Put every tested token into the carrier sentences (by id) and measure the sentence embeddings.

    Per carrier: ``shift`` = 1 - cos(sentence with the token, sentence without it) and ``nearest`` =
    the highest cosine between the token's sentence and another tested token's sentence. Both are read
    against the same carrier's typical values over the random ``control`` tokens: the typical shift
    (median) and the typical gap between two tokens' sentences (median of 1 - cos over control pairs).
    A token *collides* on a carrier when at least ``COLLISION_CROWD`` other tokens' sentences are closer
    to its own than ``COLLISION_FRACTION`` of the typical gap (under-trained tokens crowd together; a word
    and its plural only pair up), and is *inert* when it moves the sentence less than ``INERT_FRACTION``
    of the typical shift. Verified: it collides, or is inert, on every carrier; uncertain: it collides
    on some carriers only; rejected: otherwise.
    """
    p, encoded = placeholder_for(vm.tokenizer, CARRIERS, placeholder_pool)
    bases = _Codec(vm.tokenizer).encode([t.replace(" {t}", "") for t in CARRIERS], special=True)
    index = {int(t): k for k, t in enumerate(tested)}
    ctrl = np.array([index[int(t)] for t in control], dtype=np.int64)
    stage = "behaviour: carrier sentences"
    reporter.start(stage, len(CARRIERS) * len(tested))
    shifts, nearest, twins, crowds, vectors = [], [], [], [], []
    typical = []
    for c, ids in enumerate(encoded):
        slot = ids.index(p)
        base = vm.sentence_vectors([bases[c]])[0]
        seqs = [ids[:slot] + [int(t)] + ids[slot + 1:] for t in tested]
        vecs = []
        for start in range(0, len(seqs), batch_size):
            vecs.append(vm.sentence_vectors(seqs[start:start + batch_size], batch_size))
            reporter.advance(stage, min(batch_size, len(seqs) - start))
        v = np.concatenate(vecs)
        vectors.append(v)
        shift = 1.0 - v @ base
        near = np.full(len(v), -1.0, dtype=np.float32)
        twin = np.zeros(len(v), dtype=np.int64)
        for start in range(0, len(v), 2048):
            sims = v[start:start + 2048] @ v.T
            sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
            twin[start:start + len(sims)] = sims.argmax(1)
            near[start:start + len(sims)] = sims.max(1)
        cv = v[ctrl[:TYPICAL_PAIRS_FROM]]
        pair = cv @ cv.T
        gap = float(np.median(1.0 - pair[np.triu_indices(len(cv), 1)])) if len(cv) > 1 else float("nan")
        crowd = np.zeros(len(v), dtype=np.int64)
        for start in range(0, len(v), 2048):
            sims = v[start:start + 2048] @ v.T
            crowd[start:start + len(sims)] = (1.0 - sims < COLLISION_FRACTION * gap).sum(1) - 1  # minus itself
        crowds.append(crowd)
        typical.append({"carrier": CARRIERS[c], "typical_shift": float(np.median(shift[ctrl])), "typical_gap": gap})
        shifts.append(shift)
        nearest.append(near)
        twins.append(tested[twin])
    shifts, nearest, twins, crowds = np.stack(shifts), np.stack(nearest), np.stack(twins), np.stack(crowds)
    moves = np.array([t["typical_shift"] for t in typical])[:, None]
    collide = crowds >= COLLISION_CROWD
    inert = shifts < INERT_FRACTION * moves
    per_token = {}
    for k, t in enumerate(tested):
        col, ine = collide[:, k], inert[:, k]
        if col.all() or ine.all():
            verdict = "verified"
        elif col.any():
            verdict = "uncertain"
        else:  # a token inert in some sentences only is an ordinary quiet word ("immediately", "somewhere")
            verdict = "rejected"
        c = int(np.argmax(nearest[:, k]))
        why = (f"collides on {int(col.sum())}/{len(CARRIERS)} carriers (at least {int(crowds[:, k].min())} other "
               f"tokens inside the collision radius on each, {COLLISION_CROWD} needed; nearest: id {int(twins[c, k])}, "
               f"cosine {nearest[c, k]:.3f}); inert on {int(ine.sum())}/{len(CARRIERS)} (shift "
               f"{shifts[:, k].mean():.3f}, typical {moves.mean():.3f})")
        per_token[int(t)] = {"verdict": verdict, "why": why, "collisions": int(col.sum()), "inert": int(ine.sum()),
                             "crowd": int(crowds[:, k].min()), "shift": float(shifts[:, k].mean()),
                             "nearest_cosine": float(nearest[:, k].min()), "nearest_token": int(twins[c, k])}
    return {"kind": "carrier_sentences", "per_token": per_token, "carriers": typical, "vectors": vectors,
            "placeholder": int(p), "collision_fraction": COLLISION_FRACTION, "collision_crowd": COLLISION_CROWD,
            "inert_fraction": INERT_FRACTION}


def verify_causal(vm: VocabModel, tested: np.ndarray, placeholder_pool: list[int], reporter: Reporter,
                  batch_size: int = 32, new_tokens: int = 3) -> dict[str, Any]:
    """Magikarp's verification: the highest probability the model gives the token itself in the first
    ``new_tokens`` greedy positions after each repeat prompt; verified below ``VERIFY_BELOW`` on every
    prompt, rejected above ``REJECT_ABOVE`` on any."""
    import torch

    templates = [t for _, t in REPEAT_PROMPTS]
    p, encoded = placeholder_for(vm.tokenizer, templates, placeholder_pool)
    lm, dev = vm.lm, vm.device
    probs = np.zeros((len(REPEAT_PROMPTS), len(tested)), dtype=np.float64)
    outputs = [[""] * len(REPEAT_PROMPTS) for _ in tested]
    stage = "behaviour: repeat prompts"
    reporter.start(stage, len(REPEAT_PROMPTS) * len(tested))
    pad = vm.tokenizer.pad_token_id
    if pad is None:
        pad = vm.tokenizer.eos_token_id if vm.tokenizer.eos_token_id is not None else 0
    for q, ids in enumerate(encoded):
        last = max(i for i, x in enumerate(ids) if x == p)
        prompt = np.array(ids[:last], dtype=np.int64)
        slots = np.flatnonzero(prompt == p)
        for start in range(0, len(tested), batch_size):
            chunk = tested[start:start + batch_size]
            batch = np.repeat(prompt[None], len(chunk), axis=0)
            batch[:, slots] = chunk[:, None]
            inputs = torch.as_tensor(batch, device=dev)
            with torch.inference_mode():
                out = lm.generate(inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=new_tokens,
                                  do_sample=False, output_logits=True, return_dict_in_generate=True,
                                  pad_token_id=pad)
            rows = torch.arange(len(chunk), device=dev)
            target = torch.as_tensor(chunk, device=dev)
            step_probs = torch.stack([torch.softmax(lg.float(), -1)[rows, target] for lg in out.logits], 1)
            probs[q, start:start + len(chunk)] = step_probs.max(1).values.cpu().numpy()
            texts = vm.tokenizer.batch_decode(out.sequences[:, inputs.shape[1]:].cpu().tolist(),
                                              skip_special_tokens=False)
            for k, text in enumerate(texts):
                outputs[start + k][q] = text
            reporter.advance(stage, len(chunk))
    per_token = {}
    for k, t in enumerate(tested):
        top = float(probs[:, k].max())
        if top < VERIFY_BELOW:
            verdict, rule = "verified", f"< {VERIFY_BELOW}"
        elif top > REJECT_ABOVE:
            verdict, rule = "rejected", f"> {REJECT_ABOVE}"
        else:
            verdict, rule = "uncertain", f"between {VERIFY_BELOW} and {REJECT_ABOVE}"
        best = int(probs[:, k].argmax())
        why = (f"repeat prompts: its own probability peaks at {top:.2g}, {rule} "
               f"(prompt '{REPEAT_PROMPTS[best][0]}': the model wrote {outputs[k][best]!r})")
        per_token[int(t)] = {"verdict": verdict, "why": why, "max_prob": top,
                             "prompt_probs": {REPEAT_PROMPTS[q][0]: float(probs[q, k]) for q in range(len(probs))},
                             "outputs": outputs[k]}
    return {"kind": "repeat_prompts", "per_token": per_token, "placeholder": int(p), "verify_below": VERIFY_BELOW,
            "reject_above": REJECT_ABOVE, "prompts": [name for name, _ in REPEAT_PROMPTS], "new_tokens": new_tokens}


def inverter_check(vm: VocabModel, inverter, behaviour: dict, tested: np.ndarray, chosen: np.ndarray,
                   reporter: Reporter, steps: int, beam: int) -> dict[int, dict]:
    """Invert the carrier-sentence vectors of the ``chosen`` tokens; a token is recovered when the
    recovered text of any carrier, re-tokenised, holds it."""
    index = {int(t): k for k, t in enumerate(tested)}
    rows = [index[int(t)] for t in chosen]
    stage = "behaviour: inverting"
    reporter.start(stage, len(rows) * len(CARRIERS))
    found: dict[int, dict] = {int(t): {"recovered": False, "texts": []} for t in chosen}
    codec = _Codec(vm.tokenizer)
    for vecs in behaviour["vectors"]:
        results = inverter.invert(vecs[rows], steps=steps, beam=beam)
        reporter.advance(stage, len(rows))
        encoded = codec.encode([r.text for r in results])
        for t, r, ids in zip(chosen, results, encoded):
            rec = found[int(t)]
            rec["texts"].append(r.text)
            rec["recovered"] = rec["recovered"] or int(t) in ids
    return found


def resolve_inverter(inverter, vm: VocabModel) -> tuple[Any, str | None]:
    """``(inverter, None)``, or ``(None, why it is not used)``: none given, a causal LM, or no shipped
    inverter of that name. A folder that is not there is an error; so is an inverter trained for
    another embedder (its fingerprint is checked)."""
    if inverter is None:
        return None, "no inverter given (pass --inverter PATH or --inverter minilm)"
    if vm.kind != "encoder":
        return None, "an inverter recovers text from embeddings: it does not apply to a causal LM"
    from ..inversion.inverter import SHIPPED_DIR, Inverter, load_inverter

    if isinstance(inverter, Inverter):
        return inverter.use_embedder(vm.embedder), None
    spec = str(inverter)
    if not Path(spec).exists():
        if "/" in spec or spec.startswith("."):
            raise InputError(f"no inverter at {spec!r}: give an inverter folder or a shipped name such as minilm")
        if not (SHIPPED_DIR / spec).exists():
            return None, f"no shipped inverter named {spec!r} in this version of unembed"
    return load_inverter(spec, embedder=vm.embedder), None


# --------------------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------------------


def _check_settings(clusters, top_fraction, control, known_unused_sample, max_per_method):
    if isinstance(clusters, bool) or not isinstance(clusters, (int, np.integer)) or clusters < 2:
        raise InputError(f"--clusters must be a whole number of at least 2, not {clusters!r}")
    if isinstance(top_fraction, bool) or not isinstance(top_fraction, (int, float)) or not 0 < top_fraction <= 0.5:
        raise InputError(f"the flagged fraction must be above 0 and at most 0.5 (Magikarp uses 0.02), not {top_fraction!r}")
    for name, value in (("control", control), ("known_unused_sample", known_unused_sample),
                        ("max_per_method", max_per_method)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"{name} must be a whole number of at least 0, not {value!r}")


def _sample(ids: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) <= n:
        return ids
    return np.sort(rng.choice(ids, size=n, replace=False))


def audit_vocabulary(
    model: Any,
    out_dir: str | Path,
    clusters: int = 20,
    inverter: Any = None,
    top_fraction: float = TOP_FRACTION,
    control: int = 200,
    known_unused_sample: int = 200,
    max_per_method: int = 1000,
    seed: int = 0,
    inverter_limit: int = 32,
    inverter_steps: int = 4,
    inverter_beam: int = 1,
    batch_size: int = 128,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Audit a vocabulary for glitch (under-trained) tokens; writes ``candidates.jsonl``,
    ``summary.json`` and ``report.html`` into ``out_dir`` and returns the summary.

    ``model``: ``"minilm"``, a loaded embedder, or a local Hugging Face encoder / causal-LM folder (or
    a :class:`VocabModel`). Each ranked method flags its most suspicious ``top_fraction`` of the
    eligible tokens (not special, not known-unused); the tokenizer checks flag every token that fails
    them (``max_per_method`` of those are behaviour-tested). Behaviour also tests ``control`` random
    eligible tokens (negative control and an estimate of what every method missed) and
    ``known_unused_sample`` known-unused tokens (positive control). ``inverter`` (encoders only): an
    inverter folder, a shipped name, or an :class:`~unembed.inverter.Inverter`; with one, the carrier
    vectors of up to ``inverter_limit`` verified candidates and as many control tokens are inverted,
    and a token the inverter recovers is rejected.
    """
    t_start = time.perf_counter()
    _check_settings(clusters, top_fraction, control, known_unused_sample, max_per_method)
    reporter = reporter or LogReporter()
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}

    def lap(name, since):
        timings[name] = round(time.perf_counter() - since, 3)
        return time.perf_counter()

    t = time.perf_counter()
    vm = model if isinstance(model, VocabModel) else load_vocab_model(model)
    t = lap("load", t)
    inv, inverter_reason = resolve_inverter(inverter, vm)
    x = vm.input_matrix
    n = len(x)
    if clusters > n:
        raise InputError(f"--clusters {clusters} is more than the {n} tokens of the vocabulary")
    if vm.kind == "encoder" and control < MIN_CONTROL:
        raise InputError(f"--control must be at least {MIN_CONTROL} for an encoder: the random control tokens calibrate "
                         "what a typical token does to a sentence")
    out_dir.mkdir(parents=True, exist_ok=True)

    # -- tokenizer checks --------------------------------------------------------------------------
    reporter.start("tokenizer checks", 1)
    checks = tokenizer_checks(vm.tokenizer, n)
    reporter.advance("tokenizer checks", 1)
    tokens, decoded = checks["tokens"], checks["decoded"]
    unused = known_unused(tokens)
    unused_mask = np.zeros(n, dtype=bool)
    unused_mask[unused] = True
    special_mask = np.zeros(n, dtype=bool)
    special_mask[[i for i in checks["specials"] if 0 <= i < n]] = True
    special_mask &= ~unused_mask
    eligible = ~special_mask & ~unused_mask
    t = lap("tokenizer_checks", t)

    # -- clustering ----------------------------------------------------------------------------------
    reporter.start("k-means", 3)
    labels, centres, inertia = kmeans(x, clusters, seed=seed, n_init=3, progress=lambda: reporter.advance("k-means", 1))
    own = np.linalg.norm(x - centres[labels], axis=1)
    centroid = x.mean(0)
    to_centroid = np.linalg.norm(x - centroid, axis=1)
    norms = np.linalg.norm(x, axis=1)
    t = lap("clustering", t)

    # -- Magikarp indicator ------------------------------------------------------------------------
    _, axes = principal_axes(x, 2, seed=seed)  # also the 2-D projection of the report
    out_m = vm.output_matrix if vm.output_matrix is not None else x
    same = out_m is x or (out_m.shape == x.shape and np.shares_memory(out_m, x))
    reference, reference_kind = unused, "known-unused tokens"
    if len(reference) < 4:
        fallback = np.flatnonzero(checks["unreachable"] & eligible)
        if len(fallback) >= 4:
            reference, reference_kind = fallback, "unreachable tokens (the vocabulary names no unused tokens)"
    magikarp = None
    magikarp_reason = None
    if len(reference) >= 4:
        negatives = np.flatnonzero(eligible & ~np.isin(np.arange(n), reference))
        magikarp = crossfit_magikarp(out_m, reference, negatives, seed=seed, first_pc=axes[0] if same else None)
    else:
        magikarp_reason = "no known-unused (or unreachable) tokens to build the reference mean from"
    t = lap("indicators", t)

    # -- methods: scores oriented so that higher = more suspicious ----------------------------------
    suspicion: dict[str, np.ndarray] = {
        "l2_norm": -norms,
        "centroid_distance": -to_centroid,
        "cluster_distance": own,
    }
    if magikarp is not None:
        suspicion["magikarp"] = -magikarp["indicator"]
    suspicion["unreachable"] = checks["unreachable"].astype(np.float64)
    suspicion["round_trip"] = checks["round_trip_failure"].astype(np.float64)
    n_eligible = int(eligible.sum())
    cut = max(1, math.ceil(top_fraction * n_eligible))
    ranks, flagged = {}, {}
    for name, s in suspicion.items():
        ranks[name] = suspicion_ranks(s, eligible)
        if name in RANKED_METHODS:
            flagged[name] = eligible & (ranks[name] >= 1) & (ranks[name] <= cut)
        else:
            flagged[name] = eligible & (s > 0)

    # -- behaviour -----------------------------------------------------------------------------------
    rng = np.random.default_rng(seed)
    pool_ids: set[int] = set()
    for name in suspicion:
        ids = np.flatnonzero(flagged[name])
        pool_ids.update((ids if name in RANKED_METHODS else _sample(ids, max_per_method, rng)).tolist())
    control_ids = _sample(np.flatnonzero(eligible), control, rng)
    unused_ids = _sample(unused[np.isin(unused, np.flatnonzero(np.array([tk is not None for tk in tokens])))],
                         known_unused_sample, rng)
    tested = np.array(sorted(pool_ids | set(control_ids.tolist()) | set(unused_ids.tolist())), dtype=np.int64)
    placeholders = _placeholder_candidates(checks, eligible)
    if vm.kind == "encoder":
        behaviour = verify_encoder(vm, tested, control_ids, placeholders, reporter, batch_size)
    else:
        behaviour = verify_causal(vm, tested, placeholders, reporter, batch_size=batch_size)
    per_token = behaviour["per_token"]
    t = lap("behaviour", t)

    inverter_summary: dict[str, Any] = {"used": False, "reason": inverter_reason}
    if inv is not None:
        reach = checks["reachable"]
        cand = [i for i in sorted(pool_ids) if per_token[i]["verdict"] == "verified" and reach[i]]
        ctrl = [i for i in control_ids.tolist() if reach[i]]
        chosen_c = _sample(np.array(cand, dtype=np.int64), inverter_limit, rng)
        chosen_k = _sample(np.array(ctrl, dtype=np.int64), inverter_limit, rng)
        chosen = np.array(sorted(set(chosen_c.tolist()) | set(chosen_k.tolist())), dtype=np.int64)
        found = inverter_check(vm, inv, behaviour, tested, chosen, reporter, inverter_steps, inverter_beam) if len(chosen) else {}
        for i, rec in found.items():
            per_token[i]["inverter_recovered"] = rec["recovered"]
            per_token[i]["inverter_texts"] = rec["texts"]
            if rec["recovered"]:
                per_token[i]["verdict"] = "rejected"
                per_token[i]["why"] = "the inverter recovered it from a carrier sentence's vector; " + per_token[i]["why"]
            else:
                per_token[i]["why"] += "; the inverter did not recover it from any carrier"
        inverter_summary = {
            "used": True, "model_id": inv.model_id, "steps": inverter_steps, "beam": inverter_beam,
            "candidates_inverted": int(len(chosen_c)),
            "candidates_recovered": int(sum(found[i]["recovered"] for i in chosen_c.tolist())),
            "control_inverted": int(len(chosen_k)),
            "control_recovered": int(sum(found[i]["recovered"] for i in chosen_k.tolist())),
            "note": "Only reachable tokens are inverted (no text can hold an unreachable one); a token the "
                    "inverter recovers is rejected whatever the embedding test said",
        }
        t = lap("inverter", t)

    verdict = {i: per_token[i]["verdict"] for i in per_token}
    verified = np.zeros(n, dtype=bool)
    tested_mask = np.zeros(n, dtype=bool)
    tested_mask[tested] = True
    for i, v in verdict.items():
        verified[i] = v == "verified"
    pool_mask = np.zeros(n, dtype=bool)
    pool_mask[list(pool_ids)] = True
    pool_eval = (pool_mask | np.isin(np.arange(n), control_ids)) & eligible
    verified_pool = verified & pool_eval

    # -- method scores -------------------------------------------------------------------------------
    methods: dict[str, dict[str, Any]] = {}
    whole_cut = max(1, math.ceil(top_fraction * n))
    for name, s in suspicion.items():
        f = flagged[name]
        f_tested = f & tested_mask
        entry: dict[str, Any] = {"description": METHOD_INFO[name], "kind": "ranked" if name in RANKED_METHODS else "check",
                                 "flagged": int(f.sum()), "tested_of_flagged": int(f_tested.sum()),
                                 "verified_of_flagged": int((f_tested & verified).sum()),
                                 "flagged_unreachable": int((f & checks["unreachable"]).sum())}
        entry["precision"] = (entry["verified_of_flagged"] / entry["tested_of_flagged"]) if entry["tested_of_flagged"] else None
        entry["recall"] = float((f & verified_pool).sum() / verified_pool.sum()) if verified_pool.sum() else None
        if name == "magikarp":
            entry["known_unused_auc"] = magikarp["auc"]
            entry["known_unused_auc_in_sample"] = magikarp["auc_in_sample"]
            entry["cross_fit"] = magikarp["folds"]
            entry["reference"] = f"{reference_kind} ({len(reference)})"
            entry["matrix"] = "output (unembedding) matrix" if (vm.output_matrix is not None and not vm.tied) else (
                "input embedding matrix (tied: input = output)")
            if reference_kind != "known-unused tokens":
                entry["known_unused_auc"] = None
                entry["auc_note"] = "no known-unused tokens: the AUC is measured on the reference set instead"
                entry["reference_auc"] = magikarp["auc"]
        else:
            entry["known_unused_auc"] = roc_auc(s[unused_mask], s[eligible]) if unused_mask.any() else None
        if name in RANKED_METHODS:
            order = np.argsort(-s, kind="stable")[:whole_cut]
            outside = order[~unused_mask[order]]
            entry["whole_vocab_bottom"] = {"size": whole_cut, "known_unused": int(unused_mask[order].sum()),
                                           "outside_known_unused": int(len(outside)),
                                           "special": int(special_mask[outside].sum()),
                                           "unreachable": int(checks["unreachable"][outside].sum()),
                                           "verified": int(verified[outside].sum())}
        methods[name] = entry
    if magikarp is None:
        methods["magikarp"] = {"description": METHOD_INFO["magikarp"], "kind": "ranked", "skipped": magikarp_reason,
                               "precision": None, "recall": None, "known_unused_auc": None}

    names = [m for m in suspicion]
    agreement = {a: {b: {"overlap": int((flagged[a] & flagged[b]).sum()),
                         "jaccard": float((flagged[a] & flagged[b]).sum() / max((flagged[a] | flagged[b]).sum(), 1))}
                     for b in names} for a in names}

    # -- records --------------------------------------------------------------------------------------
    in_file = pool_mask | tested_mask | unused_mask | checks["unreachable"] | checks["round_trip_failure"]
    for name in suspicion:
        in_file |= flagged[name]
    indicator_values = {"l2_norm": norms, "centroid_distance": to_centroid, "cluster_distance": own}
    if magikarp is not None:
        indicator_values["magikarp"] = magikarp["indicator"]
    control_set = set(control_ids.tolist())
    records = []
    for i in np.flatnonzero(in_file):
        i = int(i)
        cats = [c for c, m in (("special", special_mask), ("known_unused", unused_mask),
                               ("unreachable", checks["unreachable"]), ("round_trip_failure", checks["round_trip_failure"]),
                               ("partial_utf8", checks["partial_utf8"])) if m[i]]
        by = [name for name in suspicion if flagged[name][i]]
        rec = {"id": i, "token": tokens[i], "text": decoded[i], "categories": cats, "cluster": int(labels[i]),
               "indicators": {k: round(float(v[i]), 6) for k, v in indicator_values.items()},
               "ranks": {k: (int(ranks[k][i]) or None) for k in RANKED_METHODS if k in ranks},
               "flagged_by": by,
               "role": ("known_unused" if unused_mask[i] else "candidate" if pool_mask[i] else
                        "control" if i in control_set else "not_tested"),
               "control": i in control_set,
               "verdict": verdict.get(i, "untested")}
        beh = per_token.get(i)
        if beh is not None:
            rec["why"] = beh["why"]
            rec["behaviour"] = {k: v for k, v in beh.items() if k not in ("verdict", "why")}
        else:
            rec["why"] = "not behaviour-tested" + (" (sampled out of a large flagged set)" if by else "")
        records.append(rec)
    pct = {k: ranks[k] / max(n_eligible, 1) for k in RANKED_METHODS if k in ranks}

    def order_key(r):
        ranked = [r["ranks"][k] for k in r["ranks"] if r["ranks"][k]]
        mean_pct = float(np.mean([pct[k][r["id"]] for k in pct if ranks[k][r["id"]]])) if ranked else 2.0
        return (-sum(1 for m in r["flagged_by"] if m in RANKED_METHODS), mean_pct, r["id"])

    records.sort(key=order_key)

    # -- summary --------------------------------------------------------------------------------------
    def rate(ids):
        ids = [int(i) for i in ids]
        counts = {v: sum(verdict[i] == v for i in ids) for v in ("verified", "rejected", "uncertain")}
        return {"n": len(ids), **counts, "verified_rate": counts["verified"] / len(ids) if ids else None}

    union_ranked = np.zeros(n, dtype=bool)
    for name in RANKED_METHODS:
        if name in flagged:
            union_ranked |= flagged[name]
    unflagged_ctrl = [i for i in control_ids.tolist() if not any(flagged[m][i] for m in flagged)]
    missed_rate = (sum(verdict[i] == "verified" for i in unflagged_ctrl) / len(unflagged_ctrl)) if unflagged_ctrl else None
    unflagged_total = int((eligible & ~np.logical_or.reduce([flagged[m] for m in flagged])).sum())
    n_missed = int(sum(verdict[i] == "verified" for i in unflagged_ctrl))
    behaviour_summary = {k: v for k, v in behaviour.items() if k not in ("per_token", "vectors")}
    behaviour_summary.update({
        "tested": int(len(tested)),
        "candidates": rate(sorted(pool_ids)),
        "control": rate(control_ids),
        "known_unused": rate(unused_ids),
        "unflagged_control": {"n": len(unflagged_ctrl), "verified": n_missed, "verified_rate": missed_rate,
                              "unflagged_eligible_tokens": unflagged_total,
                              "estimated_verified_missed_by_all_methods":
                                  None if missed_rate is None else round(missed_rate * unflagged_total),
                              "estimated_missed_upper_95":
                                  None if missed_rate is None else
                                  round(wilson_upper(n_missed, len(unflagged_ctrl)) * unflagged_total)},
    })
    summary = {
        "model": {"name": vm.name, "path": vm.path, "kind": vm.kind, "tied": vm.tied, "rows": n,
                  "dim": int(x.shape[1]), "tokenizer_vocab": int(sum(tk is not None for tk in tokens)),
                  "notes": vm.notes},
        "n_tokens": n,
        "candidates": int(pool_mask.sum()),
        "verified": int((verified & eligible).sum()),
        "verified_candidates": int((verified & pool_mask).sum()),
        "categories": {"special": int(special_mask.sum()), "known_unused": int(unused_mask.sum()),
                       "unreachable": int((checks["unreachable"] & ~special_mask).sum()),
                       "round_trip_failure": int((checks["round_trip_failure"] & ~special_mask).sum()),
                       "partial_utf8": int(checks["partial_utf8"].sum()), "eligible": n_eligible,
                       "flagged_by_a_ranked_method": int(union_ranked.sum()),
                       "verified": int((verified & eligible).sum()),
                       "rejected": int(sum(verdict[i] == "rejected" for i in verdict if eligible[i])),
                       "uncertain": int(sum(verdict[i] == "uncertain" for i in verdict if eligible[i]))},
        "methods": methods,
        "agreement": agreement,
        "behaviour": behaviour_summary,
        "inverter": inverter_summary,
        "clustering": {"k": int(clusters), "inertia": inertia, "sizes": np.bincount(labels, minlength=clusters).tolist(),
                       "known_unused_by_cluster": np.bincount(labels[unused_mask], minlength=clusters).tolist()
                       if unused_mask.any() else [0] * clusters},
        "tokenizer": {"anchors": checks["anchors"], "special_tokens": sorted(int(i) for i in checks["specials"])},
        "settings": {"clusters": int(clusters), "top_fraction": top_fraction, "flagged_per_ranked_method": cut,
                     "control": int(control), "known_unused_sample": int(known_unused_sample),
                     "max_per_method": int(max_per_method), "seed": int(seed),
                     "evaluation": "precision: verified share of a method's behaviour-tested flagged tokens; recall: "
                                   "share of the verified tokens in the pool (every method's flagged tokens plus the "
                                   "control sample) that the method flags; AUC: known-unused tokens vs eligible tokens"},
        "timings": timings,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    xy = (x.astype(np.float64) - x.mean(0)) @ axes.T
    t = time.perf_counter()
    with open(out_dir / "candidates.jsonl", "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    thresholds = {}
    for name in indicator_values:
        at = np.flatnonzero(ranks[name] == cut)
        thresholds[name] = float(indicator_values[name][at[0]]) if len(at) else None
    arrays = {"xy": xy, "labels": labels, "unused": unused_mask, "verified": verified & eligible, "pool": pool_mask,
              "eligible": eligible, "indicators": indicator_values, "thresholds": thresholds}
    page = render_report(summary, records, arrays)
    (out_dir / "report.html").write_text(page, encoding="utf-8")
    timings["write"] = round(time.perf_counter() - t, 3)
    timings["total"] = round(time.perf_counter() - t_start, 3)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return summary


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------

REPORT_ROWS = 200


def _projection_plot(xy, labels, unused, verified, pool) -> tuple[str, str]:
    from matplotlib.figure import Figure

    from ..html import png as _png

    figs = []
    fig = Figure(figsize=(6.2, 5.2))
    ax = fig.add_subplot(111)
    ax.set_title("Token embeddings, PCA: k-means clusters", fontsize=11, loc="left")
    ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab20", s=1.5, alpha=0.6, linewidths=0, rasterized=True)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    figs.append(_png(fig))
    fig = Figure(figsize=(6.2, 5.2))
    ax = fig.add_subplot(111)
    ax.set_title("Known-unused tokens, candidates and verified glitch tokens", fontsize=11, loc="left")
    ax.scatter(xy[:, 0], xy[:, 1], c="#d5d9e2", s=1.5, linewidths=0, rasterized=True, label="vocabulary")
    cand = pool & ~verified
    ax.scatter(xy[cand, 0], xy[cand, 1], c="#f0b35a", s=5, linewidths=0, label="candidate, not verified")
    ax.scatter(xy[unused, 0], xy[unused, 1], c="#5c6bc0", s=5, linewidths=0, label="known-unused")
    ver = verified & ~unused
    ax.scatter(xy[ver, 0], xy[ver, 1], c="#c62828", s=9, marker="x", linewidths=0.8, label="verified (not known-unused)")
    ax.legend(frameon=False, fontsize=8, loc="best", markerscale=2)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    figs.append(_png(fig))
    return figs[0], figs[1]


def _agreement_plot(summary) -> str:
    from matplotlib.figure import Figure

    from ..html import png as _png

    agreement = summary["agreement"]
    names = [a for a in agreement if agreement[a][a]["overlap"]]
    mat = np.array([[agreement[a][b]["jaccard"] for b in names] for a in names]).reshape(len(names), len(names))
    fig = Figure(figsize=(5.4, 4.0))
    ax = fig.add_subplot(111)
    ax.set_title("Agreement of the methods' flagged sets (Jaccard; overlap count)", fontsize=11, loc="left")
    ax.imshow(mat, cmap="Reds", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            ax.text(j, i, f"{mat[i, j]:.2f}\n{agreement[a][b]['overlap']}", ha="center", va="center", fontsize=7,
                    color="white" if mat[i, j] > 0.6 else "#1d2330")
    return _png(fig)


def _indicator_plot(values: dict, unused: np.ndarray, eligible: np.ndarray, thresholds: dict) -> str:
    """One panel per ranked method: the indicator over eligible and known-unused tokens, and where
    the method's flag threshold falls."""
    from matplotlib.figure import Figure

    from ..html import png as _png

    names = list(values)
    fig = Figure(figsize=(12.4, 3.3 * math.ceil(len(names) / 2)))
    for k, name in enumerate(names):
        ax = fig.add_subplot(math.ceil(len(names) / 2), 2, k + 1)
        v = values[name]
        lo, hi = np.percentile(v, [0.2, 99.8])
        bins = np.linspace(lo, hi, 60)
        ax.hist(np.clip(v[eligible], lo, hi), bins=bins, color="#9aa3b5", density=True, label="eligible tokens")
        if unused.any():
            ax.hist(np.clip(v[unused], lo, hi), bins=bins, color="#5c6bc0", alpha=0.7, density=True,
                    label="known-unused")
        if thresholds.get(name) is not None:
            ax.axvline(thresholds[name], color="#c62828", linestyle="--", linewidth=1, label="flag threshold")
        ax.set_title(f"{name}: {METHOD_INFO[name].split(' (')[0]}", fontsize=9, loc="left")
        ax.set_ylabel("density", fontsize=8)
        ax.tick_params(labelsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if k == 0:
            ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return _png(fig)


def render_report(summary: dict, records: list[dict], arrays: dict, rows: int = REPORT_ROWS) -> str:
    """The glitch audit as one self-contained HTML page (inline CSS, PNG plots as data URIs, no script).

    ``arrays``: per-token arrays for the plots: ``xy`` (2-D projection), ``labels`` (clusters),
    ``unused``, ``verified``, ``pool``, ``eligible`` (masks), ``indicators`` (name -> values) and
    ``thresholds`` (name -> the value at a method's flag threshold)."""
    from ..html import CSS, e as _e

    s = summary
    model = s["model"]
    beh = s["behaviour"]
    methods = s["methods"]
    a = arrays
    p_clusters, p_marked = _projection_plot(a["xy"], a["labels"], a["unused"], a["verified"], a["pool"])
    p_agree = _agreement_plot(s)
    p_indicators = _indicator_plot(a["indicators"], a["unused"], a["eligible"], a["thresholds"])

    def fmt(x, f="{:.3f}"):
        return "n/a" if x is None else f.format(x)

    method_rows = []
    for name, m in methods.items():
        if m.get("skipped"):
            method_rows.append(f"<tr><td><b>{_e(name)}</b><br><span class=small>{_e(m['description'])}</span></td>"
                               f"<td colspan=7 class=small>skipped: {_e(m['skipped'])}</td></tr>")
            continue
        auc = fmt(m.get("known_unused_auc"))
        if m.get("known_unused_auc_in_sample") is not None:
            auc += f"<br><span class=small>in-sample (circular) {fmt(m['known_unused_auc_in_sample'])}</span>"
        if m.get("known_unused_auc") is not None and m["known_unused_auc"] < 0.5:
            auc += "<br><span class=small>below 0.5: known-unused look <i>least</i> suspicious</span>"
        method_rows.append(
            f"<tr><td><b>{_e(name)}</b><br><span class=small>{_e(m['description'])}</span></td>"
            f"<td class=num style=\"white-space:normal;max-width:170px\">{auc}</td>"
            f"<td class=num>{m['flagged']}</td><td class=num>{m['flagged_unreachable']}</td>"
            f"<td class=num>{m['tested_of_flagged']}</td><td class=num>{m['verified_of_flagged']}</td>"
            f"<td class=num>{fmt(m['precision'], '{:.2f}')}</td><td class=num>{fmt(m['recall'], '{:.2f}')}</td></tr>")
    methods_table = ("<table><thead><tr><th>method</th><th>AUC on known-unused</th><th>flagged</th><th>of which unreachable</th>"
                     "<th>behaviour-tested</th><th>verified</th><th>precision</th><th>recall</th></tr></thead><tbody>"
                     + "".join(method_rows) + "</tbody></table>")

    ranked = [m for m in RANKED_METHODS if m in methods and not methods[m].get("skipped")]
    trs = []
    shown = [r for r in records if r["flagged_by"] and r["role"] != "known_unused"][:rows]
    for k, r in enumerate(shown, 1):
        rk = "<br>".join((f"<b>{_e(m)} {r['ranks'][m]}</b>" if m in r["flagged_by"] else f"{_e(m)} {r['ranks'].get(m) or '-'}")
                         for m in ranked)
        checks = [m for m in r["flagged_by"] if m not in RANKED_METHODS]
        v = r["verdict"]
        colour = {"verified": "bad", "rejected": "ok", "uncertain": "warn"}.get(v, "")
        shown_text = "" if r["text"] == r["token"] else f"<br><span class=small>decodes to {_e(repr(r['text']))}</span>"
        trs.append(f"<tr><td class=num>{k}</td><td class=num>{r['id']}</td><td><code>{_e(r['token'])}</code>{shown_text}</td>"
                   f"<td class=small>{rk}</td><td class=small>{_e(', '.join(checks) or '-')}</td>"
                   f"<td><span class=\"banner {colour}\" style=\"padding:1px 6px\">{_e(v)}</span></td>"
                   f"<td class=small>{_e(r.get('why', ''))}</td></tr>")
    cand_table = ("<table><thead><tr><th>#</th><th>id</th><th>token</th><th>rank by method (bold: flagged)</th>"
                  "<th>tokenizer check</th><th>verdict</th><th style=\"width:40%\">why</th></tr></thead><tbody>"
                  + "".join(trs) + "</tbody></table>")
    n_flagged = sum(1 for r in records if r["flagged_by"] and r["role"] != "known_unused")

    cat = s["categories"]
    cards = [("tokens", f"{s['n_tokens']:,}", f"{model['dim']}-d rows"),
             ("known-unused", f"{cat['known_unused']:,}", "named unused by the tokenizer"),
             ("unreachable", f"{cat['unreachable']:,}", "no probe string encodes to them"),
             ("candidates", f"{s['candidates']:,}", "flagged by any method, behaviour-tested"),
             ("verified", f"{s['verified']:,}", "glitch by behaviour (outside known-unused)"),
             ("control verified", fmt(beh["control"]["verified_rate"], "{:.1%}"), f"of {beh['control']['n']} random tokens")]

    inv = s["inverter"]
    if inv.get("used"):
        inv_text = (f"Inverter {_e(inv['model_id'])} ({inv['steps']} steps, beam {inv['beam']}) recovered "
                    f"{inv['candidates_recovered']} of {inv['candidates_inverted']} verified candidates and "
                    f"{inv['control_recovered']} of {inv['control_inverted']} control tokens from carrier-sentence vectors. "
                    f"{_e(inv['note'])}.")
    else:
        inv_text = f"Inverter check skipped: {_e(inv.get('reason'))}."
    if beh["kind"] == "carrier_sentences":
        carriers = "".join(f"<li>{_e(c['carrier'])} &mdash; typical shift {c['typical_shift']:.3f}, typical gap between "
                           f"two tokens' sentences {c['typical_gap']:.3f}</li>" for c in beh["carriers"])
        beh_text = (f"<p>Every tested token was put, by id, into these carrier sentences; its sentence embedding was "
                    f"compared with the sentence without it (shift) and with every other tested token's sentence. A token "
                    f"<b>collides</b> on a carrier when at least {beh['collision_crowd']} other tokens' sentences are closer "
                    f"to its own than {beh['collision_fraction']:.2f} of the typical gap between two random tokens' "
                    f"sentences (under-trained tokens crowd together; a word and its plural only pair up), and is "
                    f"<b>inert</b> when it shifts the sentence less than {beh['inert_fraction']:.2f} of a typical token's "
                    f"shift. Verified: collides, or is inert, on every carrier; uncertain: collides on some carriers "
                    f"only; rejected: otherwise. "
                    f"Typical values come from the random control tokens.</p><ul>{carriers}</ul>")
    else:
        beh_text = (f"<p>Magikarp's verification: prompts ({_e(', '.join(beh['prompts']))}) ask the model to repeat the "
                    f"token; its own probability in the first {beh['new_tokens']} greedy positions is verified below "
                    f"{beh['verify_below']} on every prompt and rejected above {beh['reject_above']}.</p>")
    rate_rows = "".join(
        f"<tr><td>{_e(label)}</td><td class=num>{r['n']}</td><td class=num>{r['verified']}</td><td class=num>{r['rejected']}</td>"
        f"<td class=num>{r['uncertain']}</td><td class=num>{fmt(r['verified_rate'], '{:.1%}')}</td></tr>"
        for label, r in (("candidates (flagged by any method)", beh["candidates"]),
                         ("random control tokens", beh["control"]), ("known-unused sample (positive control)", beh["known_unused"])))
    unf = beh["unflagged_control"]
    missed = (f"Of the {unf['n']} control tokens no method flagged, {unf['verified']} "
              f"{'was' if unf['verified'] == 1 else 'were'} verified: of the "
              f"{unf['unflagged_eligible_tokens']:,} tokens no method flags, an estimated "
              f"{unf['estimated_verified_missed_by_all_methods']:,} are glitch tokens every method missed (95% upper "
              f"bound {unf['estimated_missed_upper_95']:,})." if unf["n"] else "")
    notes = "".join(f"<li>{_e(n)}</li>" for n in model.get("notes") or [])
    settings = s["settings"]
    mk = methods.get("magikarp", {})
    mk_note = ""
    if mk.get("cross_fit"):
        folds = "; ".join(f"fit on {f['fit']}, scored {f['held_out']} held out: AUC {fmt(f['auc'])}" for f in mk["cross_fit"])
        mk_note = (f"<p class=small>Magikarp on the {_e(mk.get('matrix'))}; reference: {_e(mk.get('reference'))}. "
                   f"Cross-fitted AUC {fmt(mk.get('known_unused_auc'))} ({folds}); scoring each known-unused token with "
                   f"a mean it helped to build would give {fmt(mk.get('known_unused_auc_in_sample'))}, which is circular.</p>")
    verdict = (f"{s['verified']:,} of the {s['n_tokens']:,} tokens behave as glitch tokens "
               f"({s['verified'] / max(s['n_tokens'], 1):.2%}), besides the {cat['known_unused']:,} the tokenizer names unused; "
               f"{cat['unreachable']:,} tokens cannot be produced from any text this audit tried.")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>unembed glitch-token audit: {_e(model['name'])}</title><style>{CSS}</style></head>
<body><main>
<h1>Glitch-token audit</h1>
<div class="sub">{_e(model['name'])} &middot; {_e(model['kind'])} &middot; {s['generated']}</div>
<div class="verdict low">{_e(verdict)}</div>
<div class="cards">{''.join(f'<div class="card"><div class="v">{v}</div><div class="k">{_e(k)}<br>{_e(h)}</div></div>' for k, v, h in cards)}</div>
<h2>The embedding matrix</h2>
<div class="plots"><figure><img alt="PCA projection with k-means clusters" src="{p_clusters}"></figure>
<figure><img alt="PCA projection with candidates marked" src="{p_marked}"></figure></div>
<h2>Methods compared</h2>
<p class=small>Each ranked method flags its most suspicious {settings['top_fraction']:.1%} of the {cat['eligible']:,} eligible tokens
(not special, not known-unused): {settings['flagged_per_ranked_method']:,} tokens. Tokenizer checks flag every token that fails them.
{_e(settings['evaluation'])}.</p>
{methods_table}
{mk_note}
<figure style="margin:14px 0;background:#fff;border-radius:6px;padding:8px"><img style="width:100%" alt="indicators" src="{p_indicators}"></figure>
<figure style="max-width:620px;margin:14px 0;background:#fff;border-radius:6px;padding:8px"><img style="width:100%" alt="agreement of the methods" src="{p_agree}"></figure>
<h2>Verification by behaviour</h2>
{beh_text}
<table><thead><tr><th>tokens</th><th>tested</th><th>verified</th><th>rejected</th><th>uncertain</th><th>verified share</th></tr></thead>
<tbody>{rate_rows}</tbody></table>
<p class=small>{_e(missed)} {inv_text}</p>
<h2>Ranked candidates</h2>
<p class=small>Ordered by how many ranked methods flag the token, then by its mean rank. Showing {len(shown)} of {n_flagged};
all of them, with every indicator, are in candidates.jsonl.</p>
{cand_table}
<h2>Notes</h2>
<ul>{notes}<li>Tokenizer probes: each token alone, and after / before the anchor words {_e(', '.join(map(str, s['tokenizer']['anchors'])))}.</li></ul>
</main></body></html>
"""


__all__ = [
    "CARRIERS",
    "REPEAT_PROMPTS",
    "VocabModel",
    "audit_vocabulary",
    "crossfit_magikarp",
    "fill",
    "kmeans",
    "known_unused",
    "load_vocab_model",
    "resolve_inverter",
    "roc_auc",
    "tokenizer_checks",
]
