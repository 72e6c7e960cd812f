"""The pose labels of a clip, from its adjacent relative poses (one home for the shards' layout).

``relative_poses`` ``(T-1, 4, 4)`` float64 ``cam_t_from_cam_{t+1}`` (metres);
``translation_normalized`` ``(T-1, 3)`` float32 ``t / max(scale, 1 m)``;
``quaternion`` ``(T-1, 4)`` float32 canonical ``(x, y, z, w)``; ``scale`` ``()`` float32 mean
translation norm (m).
"""

from __future__ import annotations

import numpy as np
import torch

from la_pose_core.geometry import normalize_translations, translation_quaternion_from_pose


def pose_labels(relative: np.ndarray) -> dict[str, torch.Tensor]:
    """The label tensors of ``relative`` ``(T-1, 4, 4)`` metric adjacent motions."""
    translation, quaternion = translation_quaternion_from_pose(relative)
    normalized, scale = normalize_translations(translation)
    return {
        "relative_poses": torch.as_tensor(relative),
        "translation_normalized": torch.as_tensor(normalized, dtype=torch.float32),
        "quaternion": torch.as_tensor(quaternion, dtype=torch.float32),
        "scale": torch.tensor(scale, dtype=torch.float32),
    }
