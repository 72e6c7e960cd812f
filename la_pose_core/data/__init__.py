"""Data sources: KITTI-odometry-layout sequences and trajectory files."""

from la_pose_core.data.kitti import CameraIntrinsics, Frame, KittiSequence
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
    "associate_stamps",
    "read_kitti_poses",
    "read_tum_trajectory",
    "write_kitti_poses",
    "write_tum_trajectory",
]
