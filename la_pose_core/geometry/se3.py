"""Rigid transforms SE(3) as ``(..., 4, 4)`` float64 matrices (conventions: ``geometry``)."""

import numpy as np

from la_pose_core.geometry.rotations import matrix_from_quaternion, quaternion_from_matrix


def make_pose(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Build ``(..., 4, 4)`` poses from ``(..., 3, 3)`` rotations and ``(..., 3)`` translations."""
    rotation = np.asarray(rotation, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64)
    batch_shape = np.broadcast_shapes(rotation.shape[:-2], translation.shape[:-1])
    pose = np.zeros((*batch_shape, 4, 4))
    pose[..., :3, :3] = rotation
    pose[..., :3, 3] = translation
    pose[..., 3, 3] = 1.0
    return pose


def inverse(pose: np.ndarray) -> np.ndarray:
    """Inverse of rigid ``(..., 4, 4)`` poses: ``b_from_a`` from ``a_from_b`` (exact, no solve)."""
    pose = np.asarray(pose, dtype=np.float64)
    rotation_t = np.swapaxes(pose[..., :3, :3], -1, -2)  # (..., 3, 3)
    translation = -np.einsum("...ij,...j->...i", rotation_t, pose[..., :3, 3])  # (..., 3)
    return make_pose(rotation_t, translation)


def pose_from_translation_quaternion(translation: np.ndarray, quaternion: np.ndarray) -> np.ndarray:
    """``(..., 3)`` translations and ``(..., 4)`` quaternions (x, y, z, w) -> ``(..., 4, 4)``."""
    return make_pose(matrix_from_quaternion(quaternion), translation)


def translation_quaternion_from_pose(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(..., 4, 4)`` poses -> ``(..., 3)`` translations and canonical ``(..., 4)`` quaternions."""
    pose = np.asarray(pose, dtype=np.float64)
    return pose[..., :3, 3].copy(), quaternion_from_matrix(pose[..., :3, :3])


def relative_poses(world_from_cam: np.ndarray) -> np.ndarray:
    """All pairwise motions of a trajectory.

    Args:
        world_from_cam: ``(N, 4, 4)`` camera-to-world poses.
    Returns:
        ``(N, N, 4, 4)`` array whose ``[i, j]`` is ``cam_i_from_cam_j``.
    """
    cam_from_world = inverse(world_from_cam)  # (N, 4, 4)
    return np.einsum("iab,jbc->ijac", cam_from_world, np.asarray(world_from_cam, np.float64))


def adjacent_relative_poses(world_from_cam: np.ndarray) -> np.ndarray:
    """``(N, 4, 4)`` camera-to-world poses -> ``(N - 1, 4, 4)`` motions ``cam_i_from_cam_{i+1}``."""
    world_from_cam = np.asarray(world_from_cam, dtype=np.float64)
    return inverse(world_from_cam[:-1]) @ world_from_cam[1:]


def chain_relative_poses(
    cam_i_from_cam_next: np.ndarray, world_from_first: np.ndarray | None = None
) -> np.ndarray:
    """Rebuild a trajectory from its adjacent motions (inverse of :func:`adjacent_relative_poses`).

    Args:
        cam_i_from_cam_next: ``(N - 1, 4, 4)`` motions between consecutive frames.
        world_from_first: pose of the first camera; identity (world = first camera) if omitted.
    Returns:
        ``(N, 4, 4)`` camera-to-world poses.
    """
    motions = np.asarray(cam_i_from_cam_next, dtype=np.float64)
    trajectory = np.empty((len(motions) + 1, 4, 4))
    trajectory[0] = np.eye(4) if world_from_first is None else world_from_first
    for i, motion in enumerate(motions):
        trajectory[i + 1] = trajectory[i] @ motion
    return trajectory
