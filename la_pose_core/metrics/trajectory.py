"""Absolute trajectory errors of a clip: ATE-M (metric) and ATE-S (scale-normalised).

ATE = RMSE over frames of ``||p_est,i - p_ref,i||`` (camera centres) after aligning the
estimate onto the reference.

- ATE-M: SE(3) alignment of the metric camera centres; metres.
- ATE-S: both trajectories are first normalised to unit mean translation magnitude, then
  SE(3)-aligned; unitless (the paper's tables print it x1e-2). Our choice, fixed: each set of
  camera centres is CENTRED on its mean, then divided by its mean distance to that centre, so
  the figure does not depend on where the clip's world origin is. A reference clip that does not
  move (mean distance < 1e-9 m) has no scale: its ATE-S is NaN and callers leave it out.
"""

import numpy as np

from la_pose_core.metrics.alignment import umeyama_alignment

MIN_SCALE_M = 1e-9


def camera_centres(world_from_cam: np.ndarray) -> np.ndarray:
    """``(N, 4, 4)`` camera-to-world poses -> ``(N, 3)`` camera centres."""
    return np.asarray(world_from_cam, dtype=np.float64)[:, :3, 3]


def aligned_rmse(reference: np.ndarray, estimate: np.ndarray, with_scale: bool = False) -> float:
    """RMSE of ``(N, 3)`` estimated positions after Umeyama alignment onto the reference."""
    alignment = umeyama_alignment(estimate, reference, with_scale=with_scale)
    residuals = alignment.apply(estimate) - reference  # (N, 3)
    return float(np.sqrt(np.mean(np.sum(residuals**2, axis=1))))


def ate_metric(gt_world_from_cam: np.ndarray, est_world_from_cam: np.ndarray) -> float:
    """ATE-M in metres: SE(3)-aligned RMSE of the camera centres."""
    return aligned_rmse(camera_centres(gt_world_from_cam), camera_centres(est_world_from_cam))


def normalize_positions(positions: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre ``(N, 3)`` positions and divide by their mean distance to the centre.

    Returns the normalised positions and the scale (metres); a set with scale below
    ``MIN_SCALE_M`` is returned centred but unscaled.
    """
    centred = positions - positions.mean(axis=0)
    scale = float(np.linalg.norm(centred, axis=1).mean())
    return (centred / scale if scale >= MIN_SCALE_M else centred), scale


def ate_scale_normalized(gt_world_from_cam: np.ndarray, est_world_from_cam: np.ndarray) -> float:
    """ATE-S (unitless; NaN when the reference clip does not move). See the module doc."""
    reference, reference_scale = normalize_positions(camera_centres(gt_world_from_cam))
    if reference_scale < MIN_SCALE_M:
        return float("nan")
    estimate, _ = normalize_positions(camera_centres(est_world_from_cam))
    return aligned_rmse(reference, estimate)
