"""A batch of random clips in the layout the shard reader yields, for speed checks and tests.

Frames are uniform noise, motions a straight 3 m step per pair with noise, 0.5 s apart; only
the shapes and types matter (benchmarks/bench_training.py, benchmarks/gpu_check.py, the CUDA
tests).
"""

from __future__ import annotations

import numpy as np
import torch

from la_pose_core.geometry import make_pose
from la_pose_core.model.config import LAPoseConfig


def random_clip_batch(
    config: LAPoseConfig, batch_size: int, device: str | torch.device = "cpu", seed: int = 0
) -> dict:
    """``batch_size`` clips of ``config.clip_len`` frames at the config's image size on
    ``device``: ``frames`` ``(B, T, 3, H, W)``, ``dt`` ``(B, T-1)``, ``relative_poses``
    ``(B, T-1, 4, 4)``, ``fov`` ``(B,)`` and ``key``."""
    rng = np.random.default_rng(seed)
    torch_rng = torch.Generator().manual_seed(seed)
    frames = config.clip_len
    translations = rng.normal([0.0, 0.0, 3.0], 0.3, (batch_size, frames - 1, 3))
    poses = make_pose(np.broadcast_to(np.eye(3), (batch_size, frames - 1, 3, 3)), translations)
    shape = (batch_size, frames, 3, config.image_height, config.image_width)
    return {
        "key": [f"clip{i}" for i in range(batch_size)],
        "frames": torch.rand(shape, generator=torch_rng).to(device),
        "dt": torch.full((batch_size, frames - 1), 0.5, device=device),
        "relative_poses": torch.as_tensor(poses).to(device),
        "fov": torch.full((batch_size,), 0.6, device=device),
    }
