"""Online inference: frame selection, preprocessing and the streaming pose estimator.

Entry point: :class:`PoseEstimator` (``step(image, stamp)``, ``reset()``). ROS-free.
"""

from la_pose_core.inference.estimator import (
    RESET,
    TRACKING,
    WARMING_UP,
    PoseEstimator,
    StepResult,
    estimate_clip,
)
from la_pose_core.inference.frame_selector import FrameSelector, Selection
from la_pose_core.inference.preprocess import preprocess_image

__all__ = [
    "RESET",
    "TRACKING",
    "WARMING_UP",
    "FrameSelector",
    "PoseEstimator",
    "Selection",
    "StepResult",
    "estimate_clip",
    "preprocess_image",
]
