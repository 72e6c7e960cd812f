"""Where and at what numeric precision the networks run: device choice and bf16 autocast.

Shared by inference (:mod:`la_pose_core.inference.estimator`) and training
(:mod:`la_pose_core.training`), so neither imports the other for it.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16")


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: CUDA when available, else CPU; anything else as ``torch.device`` reads it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def autocast_context(
    device: torch.device, precision: str
) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast on CUDA for ``precision="bf16"``; a null context otherwise (CPU is fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "bf16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
