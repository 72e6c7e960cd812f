"""Trajectory files: KITTI odometry poses and TUM RGB-D trajectories.

KITTI: one line per frame, the 12 numbers of the row-major 3x4 matrix ``[R | t]`` of
``world_from_cam`` (camera-to-world). TUM: ``stamp tx ty tz qx qy qz qw`` per line (the same
camera-to-world pose, quaternion ``(x, y, z, w)``), ``#`` starts a comment.
Malformed files raise ``ValueError`` naming the file and line.
"""

from pathlib import Path

import numpy as np

from la_pose_core.geometry import (
    make_pose,
    pose_from_translation_quaternion,
    translation_quaternion_from_pose,
)


def _numeric_rows(path: Path, fields: int) -> np.ndarray:
    """Parse a whitespace-separated numeric file with ``fields`` numbers per non-comment line."""
    rows = []
    for line_number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != fields:
            raise ValueError(f"{path}:{line_number}: expected {fields} numbers, got {len(parts)}")
        try:
            row = [float(part) for part in parts]
        except ValueError as error:
            raise ValueError(f"{path}:{line_number}: not a number ({error})") from None
        if not np.all(np.isfinite(row)):
            raise ValueError(f"{path}:{line_number}: non-finite value")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no poses in file")
    return np.asarray(rows, dtype=np.float64)


def _check_rotations(path: Path, rotations: np.ndarray) -> None:
    """Reject matrices that are not rotations (a column-major or garbled file)."""
    should_be_identity = rotations @ np.swapaxes(rotations, 1, 2)  # (N, 3, 3)
    bad = np.nonzero(np.abs(should_be_identity - np.eye(3)).max(axis=(1, 2)) > 1e-3)[0]
    if len(bad):
        raise ValueError(f"{path}: pose {bad[0]} is not a rotation (R R^T != I)")


def nearest_rotation(matrices: np.ndarray) -> np.ndarray:
    """Project ``(N, 3, 3)`` nearly orthonormal matrices onto SO(3) (SVD, closest in Frobenius)."""
    u, _, vt = np.linalg.svd(matrices)
    signs = np.ones(matrices.shape[:-1])  # (N, 3)
    signs[:, 2] = np.sign(np.linalg.det(u @ vt))
    return u @ (signs[..., None] * vt)


def read_kitti_poses(path: str | Path) -> np.ndarray:
    """Read a KITTI poses file into ``(N, 4, 4)`` camera-to-world poses.

    The files keep about 7 significant digits, so their matrices are orthonormal only to ~1e-7;
    rotations are projected onto SO(3) on reading, so that identical files give errors of 0
    rather than the ~0.01 degrees that ``arccos`` makes of a 1e-7 deviation.
    """
    rows = _numeric_rows(Path(path), 12).reshape(-1, 3, 4)  # (N, 3, 4)
    _check_rotations(Path(path), rows[:, :, :3])
    return make_pose(nearest_rotation(rows[:, :, :3]), rows[:, :, 3])


def write_kitti_poses(path: str | Path, world_from_cam: np.ndarray) -> None:
    """Write ``(N, 4, 4)`` camera-to-world poses in KITTI format."""
    rows = np.asarray(world_from_cam)[:, :3, :].reshape(-1, 12)
    np.savetxt(path, rows, fmt="%.9e")


def read_tum_trajectory(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a TUM trajectory: ``(N,)`` stamps in seconds and ``(N, 4, 4)`` camera-to-world poses."""
    rows = _numeric_rows(Path(path), 8)  # (N, 8)
    if np.any(np.linalg.norm(rows[:, 4:], axis=1) < 1e-6):
        raise ValueError(f"{path}: a quaternion has zero length")
    return rows[:, 0], pose_from_translation_quaternion(rows[:, 1:4], rows[:, 4:8])


def write_tum_trajectory(path: str | Path, stamps: np.ndarray, world_from_cam: np.ndarray) -> None:
    """Write stamps and ``(N, 4, 4)`` camera-to-world poses in TUM format."""
    translations, quaternions = translation_quaternion_from_pose(world_from_cam)
    rows = np.column_stack([stamps, translations, quaternions])  # (N, 8)
    np.savetxt(path, rows, fmt="%.9f", header="stamp tx ty tz qx qy qz qw")


def associate_stamps(
    stamps_a: np.ndarray, stamps_b: np.ndarray, max_difference_s: float = 0.02
) -> tuple[np.ndarray, np.ndarray]:
    """Match each stamp of ``a`` to the nearest stamp of ``b`` within ``max_difference_s``.

    Returns index arrays ``(ia, ib)`` of matched pairs, in order of ``a``; each ``b`` is used once.
    """
    stamps_a, stamps_b = np.asarray(stamps_a, np.float64), np.asarray(stamps_b, np.float64)
    order_b = np.argsort(stamps_b)
    sorted_b = stamps_b[order_b]
    insert = np.searchsorted(sorted_b, stamps_a)  # (Na,)
    left = np.clip(insert - 1, 0, len(sorted_b) - 1)
    right = np.clip(insert, 0, len(sorted_b) - 1)
    closer_left = np.abs(stamps_a - sorted_b[left]) <= np.abs(stamps_a - sorted_b[right])
    nearest = np.where(closer_left, left, right)  # (Na,) positions in sorted_b
    matched_a, matched_b, used = [], [], set()
    for index_a, position in enumerate(nearest):
        index_b = int(order_b[position])
        if abs(stamps_a[index_a] - stamps_b[index_b]) <= max_difference_s and index_b not in used:
            used.add(index_b)
            matched_a.append(index_a)
            matched_b.append(index_b)
    return np.asarray(matched_a, dtype=int), np.asarray(matched_b, dtype=int)
