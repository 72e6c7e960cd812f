"""Torch rotations: the same quaternions as the numpy geometry (scipy), batched."""

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from la_pose_core.geometry import matrix_from_quaternion, quaternion_from_matrix
from la_pose_core.geometry.rotations import SIGN_EPS
from la_pose_core.geometry.rotations_torch import quaternion_from_matrix_torch


def awkward_rotations() -> np.ndarray:
    """``(N, 3, 3)``: half turns about each axis and a diagonal one (``w = 0``), the identity,
    a near-identity, near half turns and turns led by each of x, y, z and w."""
    vectors = [
        [np.pi, 0, 0],
        [0, np.pi, 0],
        [0, 0, np.pi],
        [0, -np.pi, 0],
        [np.pi / np.sqrt(2), -np.pi / np.sqrt(2), 0],
        [0, 0, 0],
        [1e-12, 0, 0],
        [0, 3.14159, 0],
        [-3.1415, 0.01, 0],
        [0.3, -0.2, 0.1],
        [0.1, 2.5, -0.4],
        [0.2, 0.1, -2.9],
    ]
    return Rotation.from_rotvec(vectors).as_matrix()


def test_quaternions_equal_the_numpy_geometry_with_its_sign():
    random = Rotation.random(200, random_state=3).as_matrix()
    matrices = np.concatenate([random, awkward_rotations()]).reshape(-1, 4, 3, 3)  # (B, 4, 3, 3)
    expected = quaternion_from_matrix(matrices)  # (B, 4, 4)
    actual = quaternion_from_matrix_torch(torch.as_tensor(matrices))  # (B, 4, 4) float64
    assert actual.shape == expected.shape and actual.dtype == torch.float64
    np.testing.assert_allclose(actual.numpy(), expected, atol=1e-12)
    single = quaternion_from_matrix_torch(torch.as_tensor(matrices[0, 0], dtype=torch.float32))
    np.testing.assert_allclose(single.numpy(), expected[0, 0], atol=1e-6)  # (4,), float32


def test_the_quaternions_give_back_their_rotations_with_canonical_w():
    matrices = np.concatenate(
        [Rotation.random(50, random_state=4).as_matrix(), awkward_rotations()]
    )
    quaternions = quaternion_from_matrix_torch(torch.as_tensor(matrices)).numpy()  # (N, 4)
    np.testing.assert_allclose(np.linalg.norm(quaternions, axis=-1), 1.0, atol=1e-12)
    assert np.all(quaternions[:, 3] >= -SIGN_EPS)  # half turns: w is 0 up to rounding
    np.testing.assert_allclose(matrix_from_quaternion(quaternions), matrices, atol=1e-12)
