"""Relative pose errors over all frame pairs of a clip, and their AUC.

As in VGGT's and PoseDiffusion's public evaluation code (``shared/notes/metrics.md``):
for every pair i < j, ``E_ij = E_i E_j^-1`` with ``E = cam_from_world`` (equivalently
``cam_i_from_cam_j``, see ``geometry``), for ground truth and estimate alike; the pair's error
is the larger of the rotation error and the translation-direction error, in degrees.

Standing still: a pair whose ground-truth translation is shorter than ``still_threshold_m``
has no direction to compare, so its translation error is 0 and the pair is judged on its
rotation alone. It still counts in the AUC (a parked car must not be rewarded or punished for
a direction that does not exist, but a wrong rotation while parked is still an error). The
number of such pairs is reported.
"""

from dataclasses import dataclass

import numpy as np

from la_pose_core.geometry import relative_poses, rotation_angle

STILL_THRESHOLD_M = 0.05
"""Ground-truth pair translations shorter than this (metres) count as standing still."""

NON_FINITE_ERROR_DEG = 1e6
"""Error given to a translation whose direction cannot be computed (e.g. an estimate of 0)."""


@dataclass(frozen=True)
class PairErrors:
    """Errors of all pairs i < j of one clip, each ``(P,)`` with ``P = N (N - 1) / 2``, degrees."""

    rotation_deg: np.ndarray
    translation_deg: np.ndarray
    still: np.ndarray  # (P,) bool: ground truth standing still, translation error set to 0

    @property
    def max_deg(self) -> np.ndarray:
        """Per-pair error ``max(rotation, translation)``, the quantity the AUC is taken over."""
        return np.maximum(self.rotation_deg, self.translation_deg)


def translation_angle_deg(t_gt: np.ndarray, t_est: np.ndarray) -> np.ndarray:
    """Sign-agnostic angle between ``(P, 3)`` translation directions, degrees in [0, 90].

    ``theta = angle(t_gt / |t_gt|, t_est / |t_est|)``; non-finite -> ``NON_FINITE_ERROR_DEG``;
    then ``min(theta, |180 - theta|)``, which ignores the sign as the reference code does.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        unit_gt = t_gt / np.linalg.norm(t_gt, axis=-1, keepdims=True)
        unit_est = t_est / np.linalg.norm(t_est, axis=-1, keepdims=True)
        cosine = np.sum(unit_gt * unit_est, axis=-1)
        theta = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    theta = np.where(np.isfinite(cosine), theta, NON_FINITE_ERROR_DEG)
    return np.minimum(theta, np.abs(180.0 - theta))


def pair_errors(
    gt_world_from_cam: np.ndarray,
    est_world_from_cam: np.ndarray,
    still_threshold_m: float = STILL_THRESHOLD_M,
) -> PairErrors:
    """Rotation and translation-direction errors of every pair i < j of a clip.

    Args:
        gt_world_from_cam, est_world_from_cam: ``(N, 4, 4)`` camera-to-world poses of the same
            N frames. The estimate's world frame and scale are irrelevant (pairs are relative,
            directions are unit vectors).
    """
    gt = np.asarray(gt_world_from_cam, dtype=np.float64)
    est = np.asarray(est_world_from_cam, dtype=np.float64)
    if gt.shape != est.shape or gt.ndim != 3 or gt.shape[1:] != (4, 4):
        raise ValueError(f"need two (N, 4, 4) trajectories, got {gt.shape} and {est.shape}")
    i, j = np.triu_indices(len(gt), k=1)  # (P,), (P,)
    rel_gt = relative_poses(gt)[i, j]  # (P, 4, 4) cam_i_from_cam_j
    rel_est = relative_poses(est)[i, j]  # (P, 4, 4)

    rotation_error = rotation_angle(np.swapaxes(rel_gt[:, :3, :3], 1, 2) @ rel_est[:, :3, :3])
    t_gt, t_est = rel_gt[:, :3, 3], rel_est[:, :3, 3]  # (P, 3)
    still = np.linalg.norm(t_gt, axis=-1) < still_threshold_m
    translation_error = np.where(still, 0.0, translation_angle_deg(t_gt, t_est))
    return PairErrors(np.degrees(rotation_error), translation_error, still)


def auc(errors_deg: np.ndarray, max_threshold_deg: int) -> float:
    """Area under the accuracy-threshold curve, in percent.

    ``AUC@T = mean over k = 1..T of the fraction of errors < k`` (1-degree steps); errors above
    T still count in the denominator. Exactly the reference numpy code.
    """
    errors_deg = np.asarray(errors_deg, dtype=np.float64)
    if errors_deg.size == 0:
        raise ValueError("AUC of an empty set of errors")
    histogram, _ = np.histogram(errors_deg, bins=np.arange(max_threshold_deg + 1))
    return float(np.mean(np.cumsum(histogram / len(errors_deg))) * 100.0)
