"""The model under audit: its vocabulary, its weights, and the way to run it on token ids.

:func:`load_vocab_model` turns ``"minilm"`` (or another bundled embedder), a loaded
:class:`~unembed.embedders.Embedder`, or a local Hugging Face folder (an encoder / embedder or a
causal LM) into a :class:`VocabModel`. Nothing is downloaded and no remote code is run.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import CheckpointError, InputError, UnembedError

__all__ = ["VocabModel", "load_vocab_model"]


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
            return emb.encoder
        return model

    def weights_digest(self) -> str:
        """A short sha256 digest of the weights an audit reads: the input-embedding rows, and the
        output rows when they are a separate matrix (the signature's ``weights``)."""
        h = hashlib.sha256()
        for m in (self.input_matrix, None if self.tied else self.output_matrix):
            if m is not None:
                h.update(str(m.shape).encode())
                h.update(np.ascontiguousarray(m, dtype=np.float32).tobytes())
        return h.hexdigest()[:12]

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
                    outputs = emb.encoder(input_ids=ids, attention_mask=mask)
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
        hf, tokenizer = emb.encoder, emb.tokenizer
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
