"""Where and in which precision inverter models run: CUDA when present, bf16 where it is native.

bf16 autocast roughly doubles CPU speed on processors that compute it natively (AVX512-BF16, AMX)
and slows down the others, so "auto" chooses it only there. Candidates are always ranked by the
real embedder's cosine, whatever the decoding precision.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import InputError

__all__ = ["default_device", "cpu_has_bf16", "resolve_inference_precision", "resolve_training_precision"]


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_inference_precision(precision: str, device: torch.device) -> str:
    if precision not in ("auto", "fp32", "bf16"):
        raise InputError(f"unknown precision '{precision}': use auto, fp32 or bf16")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


def resolve_training_precision(choice: str) -> str:
    """accelerate's mixed-precision name for ``choice`` (auto: bf16 where native, fp16 on older GPUs)."""
    if choice != "auto":
        return choice
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_bf16() else "no"
