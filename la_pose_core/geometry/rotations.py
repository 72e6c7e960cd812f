"""Rotations: unit quaternions ``(x, y, z, w)`` and 3x3 matrices, batched over leading axes.

Conversions go through ``scipy.spatial.transform.Rotation`` (the same component order); this
module adds arbitrary leading batch axes and the canonical sign ``w >= 0``.
"""

import numpy as np
from scipy.spatial.transform import Rotation

SIGN_EPS = 1e-9  # |component| at most this counts as zero when choosing the quaternion sign


def canonical_quaternion(quaternion: np.ndarray) -> np.ndarray:
    """Normalise ``(..., 4)`` quaternions ``(x, y, z, w)`` to unit length, ``w >= 0``.

    ``q`` and ``-q`` are the same rotation. The canonical one has ``w > 0``; for 180-degree
    rotations (``|w| <= SIGN_EPS``) the first non-zero of ``x, y, z`` is made positive, so that
    every rotation has exactly one canonical quaternion.
    """
    quaternion = np.asarray(quaternion, dtype=np.float64)
    norm = np.linalg.norm(quaternion, axis=-1, keepdims=True)
    if np.any(norm < 1e-12):
        raise ValueError("quaternion of zero length has no rotation")
    unit = quaternion / norm
    scalar_first = unit[..., [3, 0, 1, 2]]  # (..., 4) w, x, y, z
    leading = np.argmax(np.abs(scalar_first) > SIGN_EPS, axis=-1)[..., None]  # (..., 1)
    sign = np.sign(np.take_along_axis(scalar_first, leading, axis=-1))  # (..., 1)
    return unit * sign


def matrix_from_quaternion(quaternion: np.ndarray) -> np.ndarray:
    """``(..., 4)`` quaternions ``(x, y, z, w)`` -> ``(..., 3, 3)`` rotation matrices."""
    quaternion = np.asarray(quaternion, dtype=np.float64)
    batch_shape = quaternion.shape[:-1]
    matrices = Rotation.from_quat(quaternion.reshape(-1, 4)).as_matrix()  # (N, 3, 3)
    return matrices.reshape(*batch_shape, 3, 3)


def quaternion_from_matrix(matrix: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` rotation matrices -> canonical ``(..., 4)`` quaternions ``(x, y, z, w)``."""
    matrix = np.asarray(matrix, dtype=np.float64)
    batch_shape = matrix.shape[:-2]
    quaternions = Rotation.from_matrix(matrix.reshape(-1, 3, 3)).as_quat()  # (N, 4)
    return canonical_quaternion(quaternions.reshape(*batch_shape, 4))


def rotation_angle(matrix: np.ndarray) -> np.ndarray:
    """Geodesic angle in radians, in [0, pi], of ``(..., 3, 3)`` rotation matrices.

    ``arccos((trace(R) - 1) / 2)`` with the argument clipped to [-1, 1], as in the metrics.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    cosine = (np.trace(matrix, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arccos(np.clip(cosine, -1.0, 1.0))


def yaw_about_camera_y(angle: np.ndarray | float) -> np.ndarray:
    """``(..., 3, 3)`` rotations by ``angle`` (rad) about the optical frame's y axis. The y axis
    points down, so a turn to the left by ``a`` (``la_pose_core.metrics.skill.yaw_left``) is
    ``yaw_about_camera_y(-a)``."""
    angle = np.asarray(angle, dtype=np.float64)
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.zeros((*angle.shape, 3, 3))
    rotation[..., 0, 0] = cos
    rotation[..., 0, 2] = sin
    rotation[..., 1, 1] = 1.0
    rotation[..., 2, 0] = -sin
    rotation[..., 2, 2] = cos
    return rotation
