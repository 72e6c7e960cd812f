"""Pose metrics exactly as defined in the project's metric notes (see each module's doc).

- :mod:`.pairwise`: rotation / translation-direction errors over all frame pairs, AUC@k.
- :mod:`.trajectory`: ATE-M and ATE-S of a clip; :mod:`.alignment`: Umeyama.
- :mod:`.rpe`: KITTI-style relative pose error.
- :mod:`.skill`: per-pair skill (yaw and step-length correlation, yaw spread, rotation error,
  right-way share) that a constant-motion prior cannot win.
- :mod:`.clips`: the per-clip evaluation of a whole trajectory (what ``la-pose metrics`` prints).
- :mod:`.attribution`: the metrics with one part of every pair's motion (rotation, translation
  direction, step length) taken from the truth: what an estimate loses where.
"""

from la_pose_core.metrics.alignment import Alignment, umeyama_alignment
from la_pose_core.metrics.clips import EVAL_CLIP_LEN, clip_slices, evaluate_trajectory
from la_pose_core.metrics.pairwise import PairErrors, auc, pair_errors, translation_angle_deg
from la_pose_core.metrics.rpe import RelativePoseError, kitti_rpe, segment_lengths_for
from la_pose_core.metrics.skill import SKILL_KEYS, pair_skill, yaw_left
from la_pose_core.metrics.trajectory import ate_metric, ate_scale_normalized

__all__ = [
    "EVAL_CLIP_LEN",
    "SKILL_KEYS",
    "Alignment",
    "PairErrors",
    "RelativePoseError",
    "ate_metric",
    "ate_scale_normalized",
    "auc",
    "clip_slices",
    "evaluate_trajectory",
    "kitti_rpe",
    "pair_errors",
    "pair_skill",
    "segment_lengths_for",
    "translation_angle_deg",
    "umeyama_alignment",
    "yaw_left",
]
