"""Per-pair skill: does the estimate follow the motion, or only a prior?

AUC@5 and ATE over straight roads are won by a constant-motion prior (it scores 70-90 AUC@5
there). These measures compare each adjacent pair's estimated motion with the true one, so a
prior that predicts the same motion for every pair scores no skill:

``yaw_corr``           Pearson correlation of estimated and true signed yaw per pair;
``yaw_spread_ratio``   std of estimated yaw / std of true yaw (1 = turns of the right size;
                       a prior gives 0);
``step_corr``          Pearson correlation of estimated and true step length per pair;
``step_spread_ratio``  std of estimated / std of true step length (a model that predicts one
                       step for every pair, as a collapsed metric-scale head does, gives ~0);
``rotation_err_deg``   mean geodesic angle between estimated and true relative rotations;
``right_way_pct``      share of moving pairs (true step >= ``still_threshold_m``) whose
                       estimated translation points the true way (positive cosine): AUC and
                       ATE ignore a translation's sign, this does not.

A correlation is ``nan`` (``null`` in JSON) when the truth does not vary (it is undefined),
and 0 when only the estimate is constant (a constant carries no information about the motion).
Yaw is the rotation about the camera's up axis (optical frame: -y), positive to the left.
"""

import numpy as np

from la_pose_core.geometry import adjacent_relative_poses, rotation_angle
from la_pose_core.metrics.pairwise import STILL_THRESHOLD_M

SKILL_KEYS = (
    "yaw_corr",
    "yaw_spread_ratio",
    "step_corr",
    "step_spread_ratio",
    "rotation_err_deg",
    "right_way_pct",
)


def yaw_left(motions: np.ndarray) -> np.ndarray:
    """``(P, 4, 4)`` motions -> ``(P,)`` yaw (rad) about the camera's up axis, left positive:
    the angle of the new viewing direction (third column of R) in the previous x-z plane."""
    rotation = motions[:, :3, :3]
    return np.arctan2(-rotation[:, 0, 2], rotation[:, 2, 2])


def correlation(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Pearson correlation; nan when the truth is constant, 0 when only the estimate is."""
    if len(truth) < 2 or np.std(truth) < 1e-12:
        return float("nan")
    if np.std(estimate) < 1e-12:
        return 0.0
    return float(np.corrcoef(estimate, truth)[0, 1])


def pair_skill(
    gt_world_from_cam: np.ndarray,
    est_world_from_cam: np.ndarray,
    still_threshold_m: float = STILL_THRESHOLD_M,
) -> dict:
    """The measures of the module doc over all adjacent pairs, as a JSON-ready dict."""
    gt = adjacent_relative_poses(gt_world_from_cam)  # (P, 4, 4) cam_i_from_cam_{i+1}
    est = adjacent_relative_poses(est_world_from_cam)
    if len(gt) == 0 or gt.shape != est.shape:
        raise ValueError(f"need two trajectories of the same >= 2 frames, got {len(gt) + 1}")
    yaw_gt, yaw_est = yaw_left(gt), yaw_left(est)
    step_gt = np.linalg.norm(gt[:, :3, 3], axis=-1)  # (P,)
    step_est = np.linalg.norm(est[:, :3, 3], axis=-1)
    rotation_err = rotation_angle(np.swapaxes(gt[:, :3, :3], 1, 2) @ est[:, :3, :3])
    moving = step_gt >= still_threshold_m
    cosine = np.sum(gt[:, :3, 3] * est[:, :3, 3], axis=-1)  # sign only: no need to normalise
    spread_gt, step_spread_gt = float(np.std(yaw_gt)), float(np.std(step_gt))
    return {
        "yaw_corr": correlation(yaw_est, yaw_gt),
        "yaw_spread_ratio": float(np.std(yaw_est)) / spread_gt if spread_gt > 0 else float("nan"),
        "yaw_spread_true_deg": float(np.degrees(spread_gt)),
        "step_corr": correlation(step_est, step_gt),
        "step_spread_ratio": (
            float(np.std(step_est)) / step_spread_gt if step_spread_gt > 0 else float("nan")
        ),
        "rotation_err_deg": float(np.degrees(np.mean(rotation_err))),
        "right_way_pct": float(100.0 * np.mean(cosine[moving] > 0)) if moving.any() else None,
        "num_moving_pairs": int(moving.sum()),
    }
