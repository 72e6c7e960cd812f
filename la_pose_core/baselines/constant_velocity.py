"""Constant-velocity baseline: the first pair's ground-truth motion, repeated.

Definition used here: the motion of the first used pair (``cam_0_from_cam_1``, ground truth)
is taken as a constant body-frame velocity twist and applied over every later pair's time
interval: pair ``k`` with interval ``dt_k`` gets the rotation ``exp((dt_k / dt_0) log R_0)``
and the translation ``(dt_k / dt_0) t_0`` (with equal intervals: the first motion repeated).
It uses ground truth once, for its first pair, and nothing after: it is the "car keeps doing
what it did" reference, and a model that does not beat it has learned little about motion.
Its metric scale comes from that first ground-truth pair.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from la_pose_core.geometry import chain_relative_poses, make_pose


def constant_velocity_motions(first_motion: np.ndarray, intervals: np.ndarray) -> np.ndarray:
    """Motions ``(P, 4, 4)`` of ``P`` pairs with time intervals ``intervals`` ``(P,)`` (s).

    ``first_motion``: ``(4, 4)`` ``cam_0_from_cam_1`` of the first pair (interval
    ``intervals[0]``).
    """
    intervals = np.asarray(intervals, dtype=np.float64)
    if intervals.ndim != 1 or len(intervals) < 1 or np.any(intervals <= 0):
        raise ValueError("intervals must be a non-empty 1-D array of positive seconds")
    first_motion = np.asarray(first_motion, dtype=np.float64)
    rotation_vector = Rotation.from_matrix(first_motion[:3, :3]).as_rotvec()  # (3,)
    ratios = intervals / intervals[0]  # (P,)
    rotations = Rotation.from_rotvec(ratios[:, None] * rotation_vector).as_matrix()  # (P, 3, 3)
    return make_pose(rotations, ratios[:, None] * first_motion[:3, 3])


def constant_velocity_trajectory(ground_truth: np.ndarray, stamps: np.ndarray) -> np.ndarray:
    """Constant-velocity trajectory ``(N, 4, 4)`` over the frames of ``ground_truth``.

    Args:
        ground_truth: ``(N, 4, 4)`` camera-to-world poses of the frames (only the first two
            are used).
        stamps: ``(N,)`` their times (s).
    Returns:
        Camera-to-world poses starting at ``ground_truth[0]``.
    """
    ground_truth = np.asarray(ground_truth, dtype=np.float64)
    if len(ground_truth) < 2:
        raise ValueError("a constant-velocity trajectory needs at least 2 frames")
    first_motion = np.linalg.inv(ground_truth[0]) @ ground_truth[1]
    motions = constant_velocity_motions(first_motion, np.diff(np.asarray(stamps, np.float64)))
    return chain_relative_poses(motions, ground_truth[0])
