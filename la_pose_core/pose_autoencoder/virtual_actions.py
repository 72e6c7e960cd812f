"""Virtual latent actions: rare motions, encoded by the pose encoder, as extra pose-head data.

Labelled driving data is mostly forward motion on gentle curves. Reversing and sharp turns are
rare, so the pose head sees few latent actions of them. The Camera Pose Auto-Encoder maps *any*
relative pose to a latent action, so post-training can add clips of such motions that no camera
recorded:

1. take a real post-training clip's ground-truth motions ``cam_t_from_cam_{t+1}`` ``(P, 4, 4)``;
2. turn them into a rare motion (:data:`VIRTUAL_MOTIONS`):

   ``reverse``     the clip played backwards: motions inverted and in reverse order, intervals
                   reversed (the car drives backwards along the same path, camera facing the
                   same way);
   ``sharp_turn``  every pair yaws an extra ``delta`` about the camera's y axis (down in the
                   optical frame, so a yaw of the car), ``|delta|`` uniform in
                   :data:`SHARP_TURN_DEG` per pair and sign random per clip; the translation is
                   rotated by ``delta / 2`` (a circular arc's chord);

3. encode them with the frozen pose encoder into latent actions ``(P, d)``;
4. run the pose head on them and add its pose loss against the transformed motions' targets.

The backbone never sees these clips (there are no images): only the pose head learns from them.
Poses follow ``la_pose_core.geometry`` (camera optical frame, metres).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from la_pose_core.geometry import inverse, make_pose, yaw_about_camera_y
from la_pose_core.model.lapose import LAPosePosttrainer
from la_pose_core.model.pose_encoder import PoseEncoder
from la_pose_core.model.targets import PoseTargets
from la_pose_core.pose_autoencoder.teacher_student import freeze

VIRTUAL_MOTIONS = ("reverse", "sharp_turn")
SHARP_TURN_DEG = (10.0, 30.0)  # extra yaw per pair; a 90-degree corner in 3-9 pairs


def reverse_motions(relative_poses: np.ndarray, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A clip played backwards: ``(P, 4, 4)`` motions and ``(P,)`` intervals ->
    the reversed clip's motions (``inverse`` of each, last first) and intervals."""
    return inverse(relative_poses)[::-1].copy(), np.asarray(dt)[::-1].copy()


def sharp_turn_motions(relative_poses: np.ndarray, yaw_per_pair: float) -> np.ndarray:
    """``(P, 4, 4)`` motions with an extra yaw ``yaw_per_pair`` (rad) each (module docstring)."""
    extra = yaw_about_camera_y(yaw_per_pair)  # (3, 3)
    half = yaw_about_camera_y(yaw_per_pair / 2.0)  # (3, 3)
    rotation = extra @ relative_poses[..., :3, :3]  # (P, 3, 3)
    translation = relative_poses[..., :3, 3] @ half.T  # (P, 3)
    return make_pose(rotation, translation)


def virtual_clips(
    relative_poses: np.ndarray,
    dt: np.ndarray,
    motions: tuple[str, ...] | list[str],
    generator: torch.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One virtual clip per real clip, its kind drawn uniformly from ``motions``.

    Args:
        relative_poses: ``(B, P, 4, 4)`` real clips' ground-truth motions.
        dt: ``(B, P)`` their frame intervals (s).
        motions: names from :data:`VIRTUAL_MOTIONS`.
        generator: torch generator of the draws (default: the global one, which the trainer
            seeds and checkpoints, so a resumed run draws the same clips).
    Returns ``(B, P, 4, 4)`` motions, ``(B, P)`` intervals and the ``B`` kinds.
    """
    unknown = sorted(set(motions) - set(VIRTUAL_MOTIONS))
    if unknown or not motions:
        raise ValueError(f"virtual motions must be a non-empty subset of {VIRTUAL_MOTIONS}")
    relative_poses = np.asarray(relative_poses, dtype=np.float64)
    dt = np.asarray(dt, dtype=np.float64)
    batch = len(relative_poses)
    choice = torch.randint(len(motions), (batch,), generator=generator).tolist()  # (B,)
    uniform = torch.rand(batch, generator=generator, dtype=torch.float64).tolist()  # (B,)
    sign = torch.randint(2, (batch,), generator=generator).tolist()  # (B,)
    low, high = (math.radians(v) for v in SHARP_TURN_DEG)
    poses, intervals, kinds = [], [], []
    for clip in range(batch):
        kind = motions[choice[clip]]
        if kind == "reverse":
            clip_poses, clip_dt = reverse_motions(relative_poses[clip], dt[clip])
        else:
            yaw = (low + (high - low) * uniform[clip]) * (1.0 if sign[clip] else -1.0)
            clip_poses, clip_dt = sharp_turn_motions(relative_poses[clip], yaw), dt[clip]
        poses.append(clip_poses)
        intervals.append(clip_dt)
        kinds.append(kind)
    return np.stack(poses), np.stack(intervals), kinds


class VirtualActionPosttrainer(nn.Module):
    """Post-training with virtual latent actions: the real clips' loss plus ``weight`` times
    the pose loss on encoded virtual clips (module docstring).

    Args:
        posttrainer: the post-training module (its pose head is what both terms train).
        encoder: a trained pose encoder of the same backbone; frozen here.
        weight: weight of the virtual term.
        virtual_motions: the kinds of virtual clips drawn (:data:`VIRTUAL_MOTIONS`).
    """

    def __init__(
        self,
        posttrainer: LAPosePosttrainer,
        encoder: PoseEncoder,
        weight: float,
        virtual_motions: tuple[str, ...] = VIRTUAL_MOTIONS,
    ):
        super().__init__()
        unknown = sorted(set(virtual_motions) - set(VIRTUAL_MOTIONS))
        if unknown or not virtual_motions:
            raise ValueError(f"virtual motions must be a non-empty subset of {VIRTUAL_MOTIONS}")
        self.posttrainer = posttrainer
        self.encoder = encoder
        self.weight = weight
        self.virtual_motions = tuple(virtual_motions)
        freeze(self.encoder)

    @property
    def pose_loss(self) -> nn.Module:
        return self.posttrainer.pose_loss

    def train(self, mode: bool = True) -> VirtualActionPosttrainer:
        super().train(mode)
        self.encoder.eval()
        return self

    def forward(
        self,
        frames: Tensor,
        dt: Tensor,
        targets: PoseTargets,
        virtual_poses: np.ndarray,
        virtual_dt: np.ndarray,
        virtual_targets: PoseTargets,
    ) -> dict[str, Tensor]:
        """The posttrainer's outputs for the real clips, with ``loss_real`` (their loss),
        ``loss_virtual`` (pose loss on ``virtual_poses`` ``(B, P, 4, 4)`` with intervals
        ``virtual_dt`` ``(B, P)``) and ``loss = loss_real + weight * loss_virtual``."""
        outputs = self.posttrainer(frames, dt, targets)
        fps = (
            torch.as_tensor(1.0 / virtual_dt, dtype=torch.float32) if self.encoder.use_fps else None
        )
        with torch.no_grad():
            latents = self.encoder.encode_relative_poses(virtual_poses, fps)  # (B, P, d)
        latents = latents.to(device=frames.device)
        virtual = self.posttrainer.pose_loss(self.posttrainer.pose_head(latents), virtual_targets)
        outputs["loss_real"] = outputs["loss"]
        outputs["loss_virtual"] = virtual["loss"]
        outputs["loss"] = outputs["loss"] + self.weight * virtual["loss"]
        return outputs
