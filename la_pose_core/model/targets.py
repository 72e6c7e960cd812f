"""Pose-head training targets built from ground-truth relative poses.

For one clip of ``T`` frames the targets are its ``P = T - 1`` adjacent motions
``cam_t_from_cam_{t+1}`` (4x4, camera optical frame, metres; see ``la_pose_core.geometry``):

- ``translation_normalized`` ``t~_i = t_i / max(s, 1)`` with ``s = mean_i ||t_i||``;
- ``quaternion`` of each rotation, ``(x, y, z, w)``, canonical ``w >= 0``;
- ``fov`` the vertical field of view of the model input, ``2 atan(H / (2 fy))`` (radians), after
  the same crop/resize the model input went through
  (:func:`la_pose_core.geometry.image_crop.input_vertical_fov`);
- ``log_scale`` ``log(max(s, MIN_SCALE_M))``: the floor keeps standing-still clips finite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from la_pose_core.geometry import normalize_translations, translation_quaternion_from_pose

MIN_SCALE_M = 0.01  # smallest clip scale whose log is a target (metres)


@dataclass
class PoseTargets:
    """Batched targets, float32 tensors. ``B`` clips of ``P`` pairs."""

    translation_normalized: Tensor  # (B, P, 3)
    quaternion: Tensor  # (B, P, 4)
    fov: Tensor  # (B, P)
    log_scale: Tensor  # (B,)

    @classmethod
    def from_relative_poses(
        cls, relative_poses: np.ndarray, fov: np.ndarray | float
    ) -> PoseTargets:
        """Targets of ``B`` clips.

        Args:
            relative_poses: ``(B, P, 4, 4)`` metric ``cam_t_from_cam_{t+1}``.
            fov: vertical FoV in radians, a scalar, ``(B,)`` per clip or ``(B, P)`` per pair.
        """
        relative_poses = np.asarray(relative_poses, dtype=np.float64)  # (B, P, 4, 4)
        batch, pairs = relative_poses.shape[:2]
        translations, quaternions = translation_quaternion_from_pose(relative_poses)
        normalised = np.empty_like(translations)  # (B, P, 3)
        log_scale = np.empty(batch)  # (B,)
        for clip in range(batch):
            normalised[clip], scale = normalize_translations(translations[clip])
            log_scale[clip] = math.log(max(scale, MIN_SCALE_M))
        fov = np.asarray(fov, dtype=np.float64)
        fov = np.broadcast_to(fov.reshape(fov.shape + (1,) * (2 - fov.ndim)), (batch, pairs))
        return cls(
            translation_normalized=torch.as_tensor(normalised, dtype=torch.float32),
            quaternion=torch.as_tensor(quaternions, dtype=torch.float32),
            fov=torch.as_tensor(fov.copy(), dtype=torch.float32),  # broadcast views are read-only
            log_scale=torch.as_tensor(log_scale, dtype=torch.float32),
        )

    def to(self, device: torch.device | str) -> PoseTargets:
        """The same targets on ``device``."""
        return PoseTargets(
            translation_normalized=self.translation_normalized.to(device),
            quaternion=self.quaternion.to(device),
            fov=self.fov.to(device),
            log_scale=self.log_scale.to(device),
        )
