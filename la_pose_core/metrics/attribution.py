"""Which part of the per-pair motion costs the paper's metrics? Truth put back one part at a time.

AUC@5 judges every pair i < j of a 16-frame clip, so a small error in each adjacent pair's
rotation adds up over a clip's far pairs. To see what an estimate loses where, each adjacent
motion ``cam_i_from_cam_{i+1}`` is split into three parts, and one part at a time is replaced by
the ground truth's before the motions are chained again and scored:

``true_rotations``   the true rotation, the estimated translation vector;
``true_directions``  the true translation direction with the estimated step length and rotation;
``true_lengths``     the true step length with the estimated direction and rotation.

A metric that rises much when one part is put back is lost to that part (e.g. AUC@5 from 56 to
89 with the true rotations: the chained rotation error of the turns, not the translation).
"""

import numpy as np

from la_pose_core.geometry import adjacent_relative_poses, chain_relative_poses
from la_pose_core.metrics.clips import evaluate_trajectory

PARTS = ("true_rotations", "true_directions", "true_lengths")


def _unit(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(P, 3)`` -> unit vectors (zero where the length is 0) and ``(P, 1)`` lengths."""
    lengths = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.where(lengths > 0, vectors / np.maximum(lengths, 1e-12), 0.0), lengths


def with_true_part(gt_world_from_cam: np.ndarray, est_world_from_cam: np.ndarray, part: str):
    """The estimate's trajectory with one part (see module doc) of every adjacent motion taken
    from the ground truth; ``(N, 4, 4)`` in the estimate's first frame."""
    truth = adjacent_relative_poses(gt_world_from_cam)  # (P, 4, 4)
    motions = adjacent_relative_poses(est_world_from_cam).copy()  # (P, 4, 4)
    true_direction, true_length = _unit(truth[:, :3, 3])
    direction, length = _unit(motions[:, :3, 3])
    if part == "true_rotations":
        motions[:, :3, :3] = truth[:, :3, :3]
    elif part == "true_directions":
        motions[:, :3, 3] = true_direction * length
    elif part == "true_lengths":
        motions[:, :3, 3] = direction * true_length
    else:
        raise ValueError(f"unknown part {part!r}: choose one of {PARTS}")
    return chain_relative_poses(motions, np.asarray(est_world_from_cam, dtype=np.float64)[0])


def metric_attribution(
    gt_world_from_cam: np.ndarray,
    est_world_from_cam: np.ndarray,
    evaluate=evaluate_trajectory,
    keys=("auc5", "ate_m"),
) -> dict[str, dict[str, float]]:
    """``{part: {key: value}}``: ``evaluate(gt, trajectory)``'s ``keys`` for each trajectory of
    :func:`with_true_part` (by default the paper's per-clip metrics)."""
    return {
        part: {
            key: float(value)
            for key, value in evaluate(
                gt_world_from_cam, with_true_part(gt_world_from_cam, est_world_from_cam, part)
            ).items()
            if key in keys
        }
        for part in PARTS
    }
