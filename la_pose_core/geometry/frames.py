"""The one place where the camera optical frame meets the vehicle's ``base_link`` frame.

Camera optical: x right, y down, z forward. ``base_link`` (REP 103): x forward, y left, z up.
For a camera looking straight ahead, optical z is base x, optical x is base -y and optical y is
base -z; ``BASE_FROM_OPTICAL`` is that rotation (a real mount adds its own pitch, yaw and lever
arm through ``base_from_camera``, the camera extrinsics).
"""

import numpy as np

from la_pose_core.geometry.se3 import inverse

BASE_FROM_OPTICAL = np.array(
    [
        [0.0, 0.0, 1.0, 0.0],
        [-1.0, 0.0, 0.0, 0.0],
        [0.0, -1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
"""Pose ``base_from_optical`` of a forward-looking camera at the ``base_link`` origin."""


def base_motion_from_camera_motion(
    cam_i_from_cam_j: np.ndarray, base_from_camera: np.ndarray = BASE_FROM_OPTICAL
) -> np.ndarray:
    """Turn camera motions into the vehicle's motions (the conjugation by the extrinsics).

    Args:
        cam_i_from_cam_j: ``(..., 4, 4)`` motions in the camera optical frame.
        base_from_camera: ``(4, 4)`` camera extrinsics, pose of the optical frame in
            ``base_link``.
    Returns:
        ``(..., 4, 4)`` motions ``base_i_from_base_j`` of the rigidly attached ``base_link``.
    """
    return base_from_camera @ cam_i_from_cam_j @ inverse(base_from_camera)


def camera_motion_from_base_motion(
    base_i_from_base_j: np.ndarray, base_from_camera: np.ndarray = BASE_FROM_OPTICAL
) -> np.ndarray:
    """Inverse of :func:`base_motion_from_camera_motion`."""
    return inverse(base_from_camera) @ base_i_from_base_j @ base_from_camera
