"""Reference methods evaluated beside LA-Pose on the same frames (``la-pose evaluate``).

- :mod:`.opencv_vo`: classical monocular VO (Shi-Tomasi + KLT or ORB, essential matrix with
  RANSAC, ``recoverPose``). Monocular: its step lengths come from ground truth, so it is
  "metric only with GT scale".
- :mod:`.constant_velocity`: the first pair's ground-truth motion repeated over time.
"""

from la_pose_core.baselines.constant_velocity import (
    constant_velocity_motions,
    constant_velocity_trajectory,
)
from la_pose_core.baselines.opencv_vo import FEATURES, MonocularVO, VOStats

__all__ = [
    "FEATURES",
    "MonocularVO",
    "VOStats",
    "constant_velocity_motions",
    "constant_velocity_trajectory",
]
