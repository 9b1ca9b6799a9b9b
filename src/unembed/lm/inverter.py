"""An LM inverter on disk and in use: ``load_lm_inverter(NAME | FOLDER).invert(outputs)``.

A folder holds ``lm_inverter.json`` (access spec, target, model config, sizes), ``model.safetensors``
(``inversion.weights``: float32, float16 or per-row int8), ``tokenizer.json`` (the decoder's
WordPiece) and ``neighbours.npz`` (training prompts' pooled features: the nearest-neighbour
baseline). ``invert`` takes an :class:`~unembed.lm.access.Observation` (or its features array / its
lists of samples) and returns the recovered prompts.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import CheckpointError, InputError
from ..inversion.tokenization import Codec
from ..inversion.weights import load_model, save_model
from ..io import read_json, write_json
from .access import Access, Observation, parse_access
from .model import LMInverterModel, LMModelConfig

__all__ = ["LMInverter", "load_lm_inverter", "lm_inverter_folder", "shipped_lm_inverters", "sample_tensors"]

CONFIG = "lm_inverter.json"


def shipped_lm_inverters() -> dict[str, Path]:
    """Shipped LM inverters by name (folders of ``unembed/shipped`` holding an lm_inverter.json)."""
    root = Path(__file__).resolve().parent.parent / "shipped"  # a data folder: found by path, as inversion does
    return {p.parent.name: p.parent for p in sorted(root.glob(f"*/{CONFIG}"))}


def sample_tensors(codec: Codec, samples: Sequence[Sequence[str]], max_tokens: int):
    """(B, N, L) ids and mask of the sampled outputs, each led by [CLS] so that none is empty."""
    n = max(len(s) for s in samples)
    rows = [[[codec.bos_id] + ids for ids in codec.ids(list(s) + [""] * (n - len(s)), max_tokens)] for s in samples]
    width = max(len(ids) for r in rows for ids in r)
    out = torch.full((len(rows), n, width), codec.pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        for j, ids in enumerate(r):
            out[i, j, : len(ids)] = torch.tensor(ids)
    return out, out != codec.pad_id


class LMInverter:
    def __init__(self, model: LMInverterModel, codec: Codec, meta: dict, folder: Path | None = None,
                 neighbours: tuple[np.ndarray, list[str]] | None = None):
        self.model, self.codec, self.meta, self.folder = model.eval(), codec, meta, folder
        self.neighbours = neighbours

    @property
    def name(self) -> str:
        return self.meta.get("name") or (self.folder.name if self.folder else "lm-inverter")

    @property
    def access(self) -> Access:
        from dataclasses import replace

        access = parse_access(self.meta["access"], probes=self.meta.get("probes", 0))
        return replace(access, max_tokens=self.meta.get("sample_tokens", access.max_tokens))

    @property
    def target(self) -> str:
        return self.meta["target"]

    def batch(self, obs: Observation, idx=None) -> dict:
        idx = range(len(obs)) if idx is None else idx
        if self.model.cfg.mode == "samples":
            ids, mask = sample_tensors(self.codec, [obs.samples[i] for i in idx], self.meta["sample_tokens"])
            return {"sample_ids": ids, "sample_mask": mask}
        f = obs.features[list(idx)]
        want = (self.model.cfg.positions, self.model.cfg.feature_dim)
        if f.shape[1:] != want:
            raise InputError(f"outputs of shape {f.shape[1:]} do not fit this inverter, which reads {want} "
                             f"({self.meta['access']} of {self.meta['target']})")
        return {"features": torch.as_tensor(f, dtype=torch.float32)}

    def invert(self, outputs, beams: int = 1, batch_size: int = 32, max_tokens: int | None = None,
               target=None, rerank: int = 0) -> list[str]:
        """Recovered prompts for an Observation, a features array (n, P, F), or lists of samples.

        With ``rerank=n`` and the ``target``, the decoder's n best candidates (beam search of width
        max(beams, n)) are re-observed through the target and the closest kept
        (:mod:`unembed.lm.reobserve`); this costs n queries a prompt more (``target.queries`` counts them).
        """
        outputs = self.observation(outputs)
        if rerank > 1:
            if target is None:
                raise InputError("rerank needs the target, to re-observe the candidates through it")
            from .reobserve import recover

            return recover(self, target, outputs, beams, rerank, batch_size, max_tokens)[0]
        return [c[0] for c in self.candidates(outputs, 1, beams, batch_size, max_tokens)]

    def observation(self, outputs) -> Observation:
        """``outputs`` as an Observation: a features array (n, P, F) or lists of samples are wrapped."""
        if isinstance(outputs, Observation):
            return outputs
        if isinstance(outputs, np.ndarray) or torch.is_tensor(outputs):
            return Observation(self.meta["access"], features=np.asarray(outputs, np.float32))
        return Observation(self.meta["access"], samples=[list(s) for s in outputs])

    def candidates(self, outputs, n: int, beams: int, batch_size: int = 32,
                   max_tokens: int | None = None) -> list[list[str]]:
        """The decoder's ``n`` best texts per prompt, best first (beam width ``beams`` >= n; greedy at 1)."""
        outputs = self.observation(outputs)
        if n > max(beams, 1):
            raise ValueError(f"{n} candidates need a beam at least as wide, not {beams}")
        max_len = (max_tokens or self.meta["max_prompt_tokens"]) + 1
        pools: list[list[str]] = []
        for start in range(0, len(outputs), batch_size):
            b = self.batch(outputs, range(start, min(start + batch_size, len(outputs))))
            ids = self.model.generate(max_len, beams, num_return=n, **b)
            texts = self.codec.decode(ids)
            pools.extend(texts[i: i + n] for i in range(0, len(texts), n))
        return pools

    def nearest(self, obs: Observation) -> list[str] | None:
        """The nearest-neighbour baseline: the training prompt whose pooled features are closest (cosine)."""
        if self.neighbours is None or obs.features is None:
            return None
        bank, prompts = self.neighbours
        q = pool(self.model, obs.features)
        sims = q @ bank.T.astype(np.float32)
        return [prompts[i] for i in sims.argmax(1)]

    def save(self, folder: Path, dtype="float32") -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_model(self.model, folder / "model.safetensors", None if dtype == "float32" else dtype)
        self.codec.save(folder / "tokenizer.json")
        if self.neighbours is not None:
            import io as _io

            from ..io import atomic_write

            buf = _io.BytesIO()
            np.savez(buf, bank=self.neighbours[0].astype(np.float16),
                     prompts=np.frombuffer(json.dumps(self.neighbours[1]).encode(), np.uint8))
            atomic_write(folder / "neighbours.npz", buf.getvalue())
        write_json(folder / CONFIG, {**self.meta, "model": self.model.cfg.to_dict(), "dtype": str(dtype)})
        self.folder = folder
        return folder


def pool(model: LMInverterModel, features: np.ndarray) -> np.ndarray:
    """Standardised features, flattened over positions and unit-normalised (the neighbour key)."""
    x = (torch.as_tensor(features, dtype=torch.float32) - model.feature_mean) / model.feature_std
    x = x.reshape(len(features), -1).numpy()
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def lm_inverter_folder(spec: str | Path) -> Path | None:
    """The folder holding the LM inverter ``spec`` names (a shipped name, its folder, or a training run's
    folder), or None when it names none."""
    folder = shipped_lm_inverters().get(str(spec)) or Path(spec).expanduser()
    if (folder / "inverter" / CONFIG).exists():  # a training run's folder
        folder = folder / "inverter"
    return folder if (folder / CONFIG).exists() else None


def load_lm_inverter(spec: str | Path | None = None) -> LMInverter:
    """An LM inverter from a shipped name or a folder written by ``unembed lm train``."""
    shipped = shipped_lm_inverters()
    if spec is None:
        if not shipped:
            raise CheckpointError("no LM inverter ships with this version yet: train one with `unembed lm train` "
                                  "and pass --inverter FOLDER")
        spec = next(iter(shipped))
    folder = lm_inverter_folder(spec)
    if folder is None:
        names = ", ".join(shipped) or "none shipped yet"
        raise CheckpointError(f"'{spec}' is neither a shipped LM inverter ({names}) nor a folder with {CONFIG}")
    meta = read_json(folder / CONFIG, f"{folder / CONFIG}")
    try:
        cfg = LMModelConfig.from_dict(meta.pop("model"))
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{folder / CONFIG} has no valid model config ({exc})") from None
    model = load_model(LMInverterModel(cfg), folder / "model.safetensors")
    codec = Codec.from_file(folder / "tokenizer.json")
    neighbours = None
    if (folder / "neighbours.npz").exists():
        with np.load(folder / "neighbours.npz") as z:
            neighbours = (z["bank"].astype(np.float32), json.loads(z["prompts"].tobytes().decode()))
    return LMInverter(model, codec, meta, folder, neighbours)
