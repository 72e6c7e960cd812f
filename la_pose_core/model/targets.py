"""Pose-head training targets built from ground-truth relative poses: the one label builder.

Every pose label of the project comes from here. Shards (and the augmentations after them)
carry only what the targets are made of: the metric relative poses and the FoV. A shorter clip
prefix (``la_pose_core.training.clip_length``) slices those, and its targets built here then
have the prefix's own scale.

For one clip of ``T`` frames the targets are its ``P = T - 1`` adjacent motions
``cam_t_from_cam_{t+1}`` (4x4, camera optical frame, metres; see ``la_pose_core.geometry``):

- ``translation_normalized`` ``t~_i = t_i / max(s, 1 m)`` with ``s = mean_i ||t_i||`` (the
  floor is :data:`la_pose_core.geometry.scale.SCALE_FLOOR_METRES`);
- ``quaternion`` of each rotation, ``(x, y, z, w)``, canonical ``w >= 0``;
- ``fov`` the vertical field of view of the model input, ``2 atan(H / (2 fy))`` (radians), after
  the same crop/resize the model input went through
  (:func:`la_pose_core.geometry.image_crop.input_vertical_fov`);
- ``log_scale`` ``log(max(s, MIN_SCALE_M))``: the floor keeps standing-still clips finite.

All are computed in float64 and stored as float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from la_pose_core.geometry.rotations_torch import quaternion_from_matrix_torch
from la_pose_core.geometry.scale import SCALE_FLOOR_METRES

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
        cls, relative_poses: Tensor | np.ndarray, fov: Tensor | np.ndarray | float
    ) -> PoseTargets:
        """Targets of ``B`` clips, on the device of ``relative_poses``.

        Args:
            relative_poses: ``(B, P, 4, 4)`` metric ``cam_t_from_cam_{t+1}`` (any float dtype).
            fov: vertical FoV in radians, a scalar, ``(B,)`` per clip or ``(B, P)`` per pair.
        """
        poses = float64_tensor(relative_poses)  # (B, P, 4, 4)
        batch, pairs = poses.shape[:2]
        translation = poses[..., :3, 3]  # (B, P, 3)
        scale = clip_scale(translation)  # (B,)
        normalized = translation / scale.clamp_min(SCALE_FLOOR_METRES)[:, None, None]  # (B, P, 3)
        return cls(
            translation_normalized=normalized.float(),
            quaternion=quaternion_from_matrix_torch(poses[..., :3, :3]).float(),  # (B, P, 4)
            fov=pair_fov(fov, batch, pairs).to(poses.device),
            log_scale=scale.clamp_min(MIN_SCALE_M).log().float(),
        )

    def to(self, device: torch.device | str) -> PoseTargets:
        """The same targets on ``device``."""
        return PoseTargets(
            translation_normalized=self.translation_normalized.to(device),
            quaternion=self.quaternion.to(device),
            fov=self.fov.to(device),
            log_scale=self.log_scale.to(device),
        )


def clip_scale(translation: Tensor) -> Tensor:
    """``s``: the mean step length (metres) ``(B,)`` of ``(B, P, 3)`` metric translations."""
    return translation.norm(dim=-1).mean(dim=-1)


def pair_fov(fov: Tensor | np.ndarray | float, batch: int, pairs: int) -> Tensor:
    """``(batch, pairs)`` float32 FoV of every pair from a scalar, ``(B,)`` or ``(B, P)`` one."""
    fov = float64_tensor(fov)
    if fov.ndim == 1:
        fov = fov[:, None]  # (B, 1): one per clip
    return fov.expand(batch, pairs).float().contiguous()  # (B, P)


def float64_tensor(values: Tensor | np.ndarray | float) -> Tensor:
    """``values`` as a float64 tensor (a tensor stays on its device; arrays are copied, so a
    read-only one is fine)."""
    if isinstance(values, Tensor):
        return values.to(torch.float64)
    return torch.tensor(np.asarray(values, dtype=np.float64))
