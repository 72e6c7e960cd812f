"""Evaluation of a whole trajectory the way the paper reports it: per 16-frame clip.

The trajectory is cut into consecutive, non-overlapping clips of ``clip_len`` frames (a
shorter remainder at the end is dropped; a trajectory shorter than one clip is one clip).
Pair errors of all clips are pooled for the AUC (clips have equal size, so this equals the mean
of per-clip AUCs); ATE-S and ATE-M are averaged over clips (ATE-S over the clips that move).
The whole trajectory also gets an SE(3)-aligned ATE, the KITTI-style RPE and the per-pair
skill measures of :mod:`.skill` (which a constant-motion prior cannot win).
"""

import numpy as np

from la_pose_core.metrics.pairwise import STILL_THRESHOLD_M, auc, pair_errors
from la_pose_core.metrics.rpe import kitti_rpe
from la_pose_core.metrics.skill import pair_skill
from la_pose_core.metrics.trajectory import ate_metric, ate_scale_normalized
from la_pose_core.paper import PAPER_CLIP_LEN

EVAL_CLIP_LEN = PAPER_CLIP_LEN
"""Frames per evaluation clip: the paper's protocol, the default of every evaluating command
(``metrics``, ``evaluate``, ``bag replay``, the demo) whatever the model's own window."""


def clip_slices(num_frames: int, clip_len: int) -> list[slice]:
    """Consecutive non-overlapping clips of ``clip_len`` frames covering ``num_frames``."""
    if clip_len < 2:
        raise ValueError(f"a clip needs at least 2 frames, got clip_len={clip_len}")
    if num_frames < 2:
        raise ValueError(f"a trajectory needs at least 2 frames, got {num_frames}")
    if num_frames <= clip_len:
        return [slice(0, num_frames)]
    return [
        slice(start, start + clip_len) for start in range(0, num_frames - clip_len + 1, clip_len)
    ]


def evaluate_trajectory(
    gt_world_from_cam: np.ndarray,
    est_world_from_cam: np.ndarray,
    clip_len: int = EVAL_CLIP_LEN,
    still_threshold_m: float = STILL_THRESHOLD_M,
) -> dict:
    """All metrics of an estimated trajectory against ground truth, as a JSON-ready dict.

    Keys: ``auc5``, ``auc30`` (percent), ``ate_s`` (unitless, mean over moving clips),
    ``ate_m`` (metres, mean over clips), ``ate_full_m`` (whole trajectory, SE(3)),
    ``rpe_trans_pct``, ``rpe_rot_deg_per_m``, ``rpe_segment_lengths_m``, ``num_clips``,
    ``num_static_clips``, ``num_pairs``, ``num_still_pairs``, ``clip_len``, ``num_frames``,
    and the adjacent-pair skill of :func:`~la_pose_core.metrics.skill.pair_skill`
    (``yaw_corr``, ``yaw_spread_ratio``, ``step_corr``, ``rotation_err_deg``,
    ``right_way_pct``, ...).
    """
    gt = np.asarray(gt_world_from_cam, dtype=np.float64)
    est = np.asarray(est_world_from_cam, dtype=np.float64)
    if gt.shape != est.shape:
        raise ValueError(f"ground truth has {len(gt)} poses, the estimate {len(est)}")

    errors, still, ate_s, ate_m = [], [], [], []
    for clip in clip_slices(len(gt), clip_len):
        clip_errors = pair_errors(gt[clip], est[clip], still_threshold_m)
        errors.append(clip_errors.max_deg)
        still.append(clip_errors.still)
        ate_s.append(ate_scale_normalized(gt[clip], est[clip]))
        ate_m.append(ate_metric(gt[clip], est[clip]))
    all_errors = np.concatenate(errors)
    moving_ate_s = [value for value in ate_s if np.isfinite(value)]
    rpe = kitti_rpe(gt, est)
    return {
        "auc5": auc(all_errors, 5),
        "auc30": auc(all_errors, 30),
        "ate_s": float(np.mean(moving_ate_s)) if moving_ate_s else float("nan"),
        "ate_m": float(np.mean(ate_m)),
        "ate_full_m": ate_metric(gt, est),
        "rpe_trans_pct": rpe.translation_pct,
        "rpe_rot_deg_per_m": rpe.rotation_deg_per_m,
        "rpe_segment_lengths_m": list(rpe.segment_lengths_m),
        "num_clips": len(ate_m),
        "num_static_clips": len(ate_s) - len(moving_ate_s),
        "num_pairs": int(all_errors.size),
        "num_still_pairs": int(np.concatenate(still).sum()),
        "clip_len": clip_len,
        "num_frames": len(gt),
        **pair_skill(gt, est, still_threshold_m),
    }
