"""Data sources: KITTI-odometry-layout sequences, trajectory files, evaluation variants."""

from la_pose_core.data.kitti import CameraIntrinsics, Frame, KittiSequence
from la_pose_core.data.label_noise import corrupt_world_from_cam
from la_pose_core.data.time_reversal import TimeReversedSequence
from la_pose_core.data.trajectory_io import (
    associate_stamps,
    read_kitti_poses,
    read_tum_trajectory,
    write_kitti_poses,
    write_tum_trajectory,
)

__all__ = [
    "CameraIntrinsics",
    "Frame",
    "KittiSequence",
    "TimeReversedSequence",
    "associate_stamps",
    "corrupt_world_from_cam",
    "read_kitti_poses",
    "read_tum_trajectory",
    "write_kitti_poses",
    "write_tum_trajectory",
]
