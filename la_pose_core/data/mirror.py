"""Mirrored clips: every left turn also seen as a right turn, with exact labels.

The synthetic training drives turn left more often than right (seeds 0-23: 1314 degrees of
left turns against 784 of right ones, ``tools/turn_balance.py``), and a backbone whose latents
keep how much a view changes but not which way then gets a head that calls every turn a left
one: the pretrained frozen backbone predicted +58, +81 and +37 degrees on drives that turn +90,
-99 and -90 (README, "Pretraining lost the sign of the turn"). A clip flipped left-right is the
clip of the mirrored world, so left and right become equally common and only the sign tells
them apart.

Flipping the image columns of a pinhole camera gives the image of the world mirrored in the
camera's ``x = 0`` plane, seen by the same camera with its principal point mirrored
(``c_x' = W - c_x``; the model's centre crops keep ``c_x`` near ``W / 2``). In the camera optical
frame (x right, y down, z forward) the mirror is ``S = diag(-1, 1, 1)``, and every motion
``cam_t_from_cam_{t+1} = [R | t]`` becomes ``[S R S | S t]``: yaw and roll change sign, pitch
does not, the lateral component of ``t`` changes sign, step lengths (so the clip scale) and the
field of view stay. Label-free clips are flipped the same way (their frames only).

The same mirror serves evaluation: :class:`MirroredSequence` is a recorded sequence seen in the
mirror, and a model that sees motion must turn the other way on it. Whatever it turns the *same*
way on both is not seen in the images (a prior of its training drives; README, "The mirror
check").
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

import numpy as np
import torch

MIRROR = np.diag([-1.0, 1.0, 1.0, 1.0])  # (4, 4) the reflection x -> -x, in homogeneous form


def mirror_relative_poses(relative: np.ndarray) -> np.ndarray:
    """``(..., 4, 4)`` ``cam_t_from_cam_{t+1}`` -> the same motions in the mirrored world."""
    return MIRROR @ relative @ MIRROR


def flip_pixels(xy: np.ndarray, width: int) -> np.ndarray:
    """``(..., 2)`` pixel positions in an image ``width`` wide -> the same points in the image
    flipped left-right (pixel ``u`` goes to ``W - 1 - u``; its own inverse)."""
    return np.stack((width - 1.0 - xy[..., 0], xy[..., 1]), axis=-1)


def mirror_translation(translation: np.ndarray) -> np.ndarray:
    """``(..., 3)`` translations (camera optical frame) -> the mirrored world's: ``S t``."""
    return translation * np.array([-1.0, 1.0, 1.0])


def mirror_quaternion(quaternion: np.ndarray) -> np.ndarray:
    """``(..., 4)`` ``(x, y, z, w)`` rotations ``R`` -> those of ``S R S``: ``(x, -y, -z, w)``.

    ``S R S`` turns by the same angle about the axis ``-S a`` (``S`` is a reflection): pitch
    (about x) stays, yaw (y) and roll (z) change sign.
    """
    return quaternion * np.array([1.0, -1.0, -1.0, 1.0])


class MirroredSequence:
    """A KITTI-layout sequence (:class:`la_pose_core.data.KittiSequence`, or anything with
    ``stamps``, ``image(i)``, ``world_from_cam``, ``intrinsics``) seen in the mirror.

    Images are flipped left-right, ground-truth poses become ``S P S`` (so every relative motion
    is mirrored as :func:`mirror_relative_poses` says) and the principal point moves to
    ``c_x' = W - 1 - c_x`` (pixel ``u`` goes to ``W - 1 - u``).
    """

    def __init__(self, sequence: Any) -> None:
        self.sequence = sequence
        self.name = f"{getattr(sequence, 'name', 'sequence')}-mirrored"
        self.stamps = sequence.stamps
        poses = sequence.world_from_cam
        self.world_from_cam = None if poses is None else MIRROR @ np.asarray(poses) @ MIRROR
        intrinsics = getattr(sequence, "intrinsics", None)
        self.intrinsics = (
            None
            if intrinsics is None
            else dataclasses.replace(intrinsics, cx=intrinsics.width - 1.0 - intrinsics.cx)
        )

    def __len__(self) -> int:
        return len(self.sequence)

    def image(self, index: int) -> np.ndarray:
        return np.ascontiguousarray(self.sequence.image(index)[:, ::-1])  # (H, W[, 3])

    def require_intrinsics(self):
        """``intrinsics``, or the sequence's own one-line error."""
        if self.intrinsics is None:
            return self.sequence.require_intrinsics()
        return self.intrinsics


def mirror_clip(sample: dict[str, Any]) -> dict[str, Any]:
    """A decoded clip (``la_pose_core.data.shards`` layout) flipped left-right.

    ``frames`` ``(T, C, H, W)`` (when decoded) are flipped along W and the relative poses follow
    (the targets are built from them, :class:`la_pose_core.model.targets.PoseTargets`);
    ``mirrored`` marks the result (it reads True).
    """
    out = dict(sample)
    if "frames" in sample:
        out["frames"] = sample["frames"].flip(-1)
    if "relative_poses" in sample:
        out["relative_poses"] = torch.as_tensor(
            mirror_relative_poses(sample["relative_poses"].numpy())
        )  # (T-1, 4, 4)
    out["mirrored"] = torch.tensor(True)
    return out


class RandomMirror:
    """Pipeline stage: each clip is mirrored with ``probability`` (every sample gets a
    ``mirrored`` flag); the draw depends only on (seed, epoch, clip key), so a resumed or
    re-split run mirrors every clip the same way."""

    def __init__(self, probability: float, seed: int, epoch_state: dict) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"mirror probability must be in [0, 1], got {probability}")
        self.probability, self.seed, self.epoch_state = probability, seed, epoch_state

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        key = zlib.crc32(str(sample["key"]).encode())
        rng = np.random.default_rng([self.seed, self.epoch_state["epoch"], key, 0x1EF7])
        if rng.random() < self.probability:
            return mirror_clip(sample)
        return {**sample, "mirrored": torch.tensor(False)}
