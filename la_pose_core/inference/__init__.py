"""Online inference: frame selection, preprocessing, the streaming pose estimator and its
epipolar yaw refinement (:mod:`.epipolar_yaw`).

Entry point: :class:`PoseEstimator` (``step(image, stamp)``, ``reset()``); at camera rate
:class:`CameraRateEstimator` over its modules (same contract; :func:`online_estimator` picks by
``OutputRateConfig.mode``). :class:`FinalPairs` turns its results into the revised trajectory,
each frame once its pair is final (``streaming.fixed_lag``). ROS-free.
"""

from la_pose_core.inference.camera_rate import CameraRateEstimator, online_estimator
from la_pose_core.inference.estimator import (
    RESET,
    TRACKING,
    WARMING_UP,
    PoseEstimator,
    StepResult,
    estimate_clip,
    keep_latest_motions,
)
from la_pose_core.inference.final_pairs import FinalPair, FinalPairs
from la_pose_core.inference.frame_selector import FrameSelector, Selection
from la_pose_core.inference.preprocess import preprocess_image

__all__ = [
    "RESET",
    "TRACKING",
    "WARMING_UP",
    "CameraRateEstimator",
    "FinalPair",
    "FinalPairs",
    "FrameSelector",
    "PoseEstimator",
    "Selection",
    "StepResult",
    "estimate_clip",
    "keep_latest_motions",
    "online_estimator",
    "preprocess_image",
]
