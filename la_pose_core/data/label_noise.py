"""Injected label noise: grossly wrong pose labels, to measure an outlier-rejecting loss.

Unposed-to-3D drops the training clips whose loss is more than 3 sigma above the batch mean,
because some automatically made labels are badly wrong: a GNSS fix that jumps, a SLAM segment
that lost track and drifted, a wrong scale after a relocalisation. To see what such a filter
buys, shards can be written with a known fraction of clips whose labels are corrupted in that
way (``la-pose shards --label-noise``) and flagged (``"label_noise": true`` in ``meta.json``).

The corruption (:func:`corrupt_world_from_cam`) acts on the adjacent motions
``cam_t_from_cam_{t+1}`` (conventions: :mod:`la_pose_core.geometry`), one independent draw
per pair:

* rotation: the motion gets an extra rotation ``E`` about a uniformly random axis by an angle
  uniform in ``[MIN_EXTRA_ROTATION_DEG, MAX_EXTRA_ROTATION_DEG]``, applied on the side of the
  later camera: ``R' = R @ E``, so the relative rotation is off by exactly that angle;
* translation: scaled by a factor log-uniform in ``[MIN_TRANSLATION_FACTOR,
  MAX_TRANSLATION_FACTOR]`` and rotated by the same ``E``: ``t' = E @ (factor * t)`` (a wrong
  heading and a wrong speed, the norm off by exactly the factor).

The trajectory is then rebuilt by chaining the corrupted motions from the unchanged first pose.
Every pair is wrong, as in a bad segment; images, stamps and intrinsics are untouched.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.spatial.transform import Rotation

from la_pose_core.data.clips import Clip
from la_pose_core.geometry import adjacent_relative_poses, chain_relative_poses, make_pose

# Extra rotation of every corrupted pair (degrees): far above real frame-to-frame label error
# (well under 1 degree) and above the turn of a car in one clip interval (a few degrees).
MIN_EXTRA_ROTATION_DEG = 10.0
MAX_EXTRA_ROTATION_DEG = 40.0
# Factor on every corrupted pair's translation, drawn log-uniform: as likely to shrink the
# motion as to grow it (wrong scale after relocalisation, GNSS jumps).
MIN_TRANSLATION_FACTOR = 0.2
MAX_TRANSLATION_FACTOR = 5.0


def corrupt_world_from_cam(world_from_cam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A grossly wrong version of a trajectory (see the module docstring).

    Args:
        world_from_cam: ``(T, 4, 4)`` camera-to-world poses, ``T >= 2``.
        rng: the only source of randomness (same generator state, same result).
    Returns:
        ``(T, 4, 4)`` poses: the first equal to the input's, every adjacent motion corrupted.
    """
    world_from_cam = np.asarray(world_from_cam, np.float64)
    if world_from_cam.ndim != 3 or world_from_cam.shape[1:] != (4, 4) or len(world_from_cam) < 2:
        raise ValueError(f"need (T >= 2, 4, 4) poses, got shape {world_from_cam.shape}")
    motions = adjacent_relative_poses(world_from_cam)  # (P, 4, 4) cam_t_from_cam_{t+1}
    pairs = len(motions)

    axes = rng.normal(size=(pairs, 3))  # (P, 3) isotropic, so the directions are uniform
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.radians(
        rng.uniform(MIN_EXTRA_ROTATION_DEG, MAX_EXTRA_ROTATION_DEG, size=pairs)
    )  # (P,)
    extra = Rotation.from_rotvec(axes * angles[:, None]).as_matrix()  # (P, 3, 3)
    factors = np.exp(
        rng.uniform(math.log(MIN_TRANSLATION_FACTOR), math.log(MAX_TRANSLATION_FACTOR), size=pairs)
    )  # (P,)

    rotation = motions[:, :3, :3] @ extra  # (P, 3, 3)
    translation = np.einsum("pij,pj->pi", extra, factors[:, None] * motions[:, :3, 3])  # (P, 3)
    corrupted = make_pose(rotation, translation)  # (P, 4, 4)
    return chain_relative_poses(corrupted, world_from_first=world_from_cam[0])  # (T, 4, 4)


def corrupt_clip_labels(clip: Clip, rng: np.random.Generator) -> Clip:
    """The clip with corrupted ``world_from_cam`` and its relative poses derived from it again.

    Frames, stamps, indices and intrinsics are the same. Raises ``ValueError`` for a clip
    without poses.
    """
    if clip.world_from_cam is None:
        raise ValueError(f"a clip of {clip.source} has no poses to corrupt")
    world_from_cam = corrupt_world_from_cam(clip.world_from_cam, rng)  # (T, 4, 4)
    relative = adjacent_relative_poses(world_from_cam)  # (P, 4, 4)
    return dataclasses.replace(clip, world_from_cam=world_from_cam, relative_poses=relative)
