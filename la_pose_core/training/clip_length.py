"""Probabilistic clip lengths (as in Unposed-to-3D): train on shorter prefixes of the clips too.

The streaming estimator runs the pose head on windows of 1 to ``clip_len - 1`` pairs (a track
warms up one frame at a time), so the head should not only see full clips. With
``clip_len_sampling="exponential"`` each micro-batch is cut to the first ``T'`` frames of its
clips, ``T'`` in ``[min_clip_len, T]`` drawn with probability

    p(T') ~ exp(-(T - T') / decay)            (full clips most likely, shorter ones decaying)

Every clip of a micro-batch gets the same ``T'`` (they stack). Prefixes are exact for the
backbone: it is causal in time, so the latent actions of a prefix are those of the full clip's
first pairs. Only the clips' tensors are cut: the targets are built from the prefix's relative
poses (:class:`la_pose_core.model.targets.PoseTargets`), so its metric scale is its own.
``"fixed"`` keeps every clip whole. Frame rates have their own exponential option in the clip
sampler (:mod:`la_pose_core.data.clips`, ``fps_sampling="exponential"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

CLIP_LEN_SAMPLING = ("fixed", "exponential")


def clip_length_probabilities(max_len: int, min_len: int, decay: float) -> np.ndarray:
    """``(max_len - min_len + 1,)`` probabilities of the lengths ``min_len .. max_len``."""
    if not 2 <= min_len <= max_len:
        raise ValueError(f"need 2 <= min_clip_len <= clip length, got {min_len}, {max_len}")
    if not decay > 0:
        raise ValueError(f"clip_len_decay must be positive, got {decay}")
    lengths = np.arange(min_len, max_len + 1)
    weights = np.exp(-(max_len - lengths) / decay)
    return weights / weights.sum()


def sample_clip_length(
    max_len: int, min_len: int, decay: float, generator: torch.Generator | None = None
) -> int:
    """One length ``T'`` (module docstring); draws from ``generator`` (default: torch's global
    generator, which the trainer seeds and checkpoints)."""
    probabilities = torch.as_tensor(clip_length_probabilities(max_len, min_len, decay))
    return min_len + int(torch.multinomial(probabilities, 1, generator=generator))


def truncate_clips(batch: dict[str, Any], length: int) -> dict[str, Any]:
    """The batch's clips cut to their first ``length`` frames.

    Tensors with a frame axis (``frames`` ``(B, T, ...)``, ``stamps`` ``(B, T)``) keep
    ``length``; those with a pair axis (``dt`` ``(B, T-1)``, ``relative_poses``
    ``(B, T-1, 4, 4)``, cached ``latent_actions`` ``(B, T-1, d)``) keep ``length - 1``.
    Everything else (``fov``, ``fps``, keys, flags) is per clip and unchanged.
    """
    frames_per_clip = batch["dt"].shape[1] + 1
    if not 2 <= length <= frames_per_clip:
        raise ValueError(f"cannot cut clips of {frames_per_clip} frames to {length}")
    out = dict(batch)
    for name in ("frames", "stamps"):
        if name in batch:
            out[name] = batch[name][:, :length]
    for name in ("dt", "relative_poses", "latent_actions"):
        if name in batch:
            out[name] = batch[name][:, : length - 1]
    return out


def expected_length(max_len: int, min_len: int, decay: float) -> float:
    """Mean ``T'`` of the distribution (for documentation and tests)."""
    probabilities = clip_length_probabilities(max_len, min_len, decay)
    return float(np.dot(np.arange(min_len, max_len + 1), probabilities))
