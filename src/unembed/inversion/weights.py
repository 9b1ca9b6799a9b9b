"""Inverter weights on disk: safetensors (never pickle), optionally as per-row int8.

``save_model(model, path, dtype)`` writes a model's state dict atomically; ``dtype="int8"`` stores
every matrix of at least ``INT8_MIN_SIZE`` entries as int8 with one float32 scale per row
(weight-only quantisation: computation stays in float after loading) and the rest as float16,
which is how the shipped inverter fits its size budget. ``load_model`` reads any of these back,
dequantising int8, and refuses a file that does not fit the model with one line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ..errors import CheckpointError
from ..io import atomic_write

__all__ = ["INT8_SCALE", "INT8_MIN_SIZE", "quantize_int8", "save_model", "load_model"]

INT8_SCALE = ".int8_row_scale"  # companion tensor of an int8 weight: one float32 scale per row
INT8_MIN_SIZE = 65536  # smaller tensors (biases, norms, position tables) stay in float16


def quantize_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8: ``w ~= q * scale[:, None]``, error at most ``scale / 2`` per entry."""
    w = w.detach().float()
    scale = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    q = torch.round(w / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return q, scale


def save_model(model: torch.nn.Module, path: Path, dtype: torch.dtype | str | None = None,
               skip: Sequence[str] = ()) -> None:
    """Save ``model``'s weights as safetensors, optionally cast; ``skip`` names tensors left out.

    ``dtype="int8"``: matrices of at least ``INT8_MIN_SIZE`` entries become per-row int8 with a
    float32 scale each (weight-only quantisation; computation stays in float), the rest float16."""
    from safetensors.torch import save

    state: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        if k in skip:
            continue
        v = v.detach().cpu()
        if dtype in ("int8", torch.int8) and v.is_floating_point():
            if v.dim() == 2 and v.numel() >= INT8_MIN_SIZE:
                q, scale = quantize_int8(v)
                state[k], state[k + INT8_SCALE] = q, scale
                continue
            v = v.to(torch.float16)
        elif dtype not in (None, "int8", torch.int8) and v.is_floating_point():
            v = v.to(dtype)
        state[k] = v.contiguous()
    atomic_write(Path(path), save(state))


def load_model(model: torch.nn.Module, path: Path, shared: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """Load weights saved by :func:`save_model` (any dtype; int8 is dequantised); ``shared`` fills
    tensors the file leaves out because another model of the folder holds them."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read weights {path}: {exc} (the file is corrupt or truncated; retrain or re-copy it)") from None
    for k in [k for k in state if k.endswith(INT8_SCALE)]:
        base = k[: -len(INT8_SCALE)]
        scale = state.pop(k)
        if base not in state or state[base].dtype != torch.int8 or state[base].shape[:1] != scale.shape:
            raise CheckpointError(f"weights {path}: {k} does not match an int8 tensor {base} (corrupt file)")
        state[base] = state[base].float() * scale.float()[:, None]
    for k, v in (shared or {}).items():
        state.setdefault(k, v)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"weights {path} do not fit the model config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for k, v in state.items():
        if v.shape != own[k].shape:
            raise CheckpointError(f"weights {path}: {k} has shape {tuple(v.shape)}, config expects {tuple(own[k].shape)}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    return model
