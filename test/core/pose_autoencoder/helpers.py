"""Synthetic relative poses shared by the pose auto-encoder tests."""

import numpy as np
from scipy.spatial.transform import Rotation

from la_pose_core.geometry import make_pose


def driving_motions(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """``(*shape, 4, 4)`` car-like ``cam_t_from_cam_{t+1}``: mostly +z, small yaw (about -y)."""
    count = int(np.prod(shape))
    translation = np.stack(
        (
            rng.normal(0.0, 0.3, count),  # x right
            rng.normal(0.0, 0.05, count),  # y down
            rng.uniform(0.5, 3.0, count),  # z forward, metres
        ),
        axis=-1,
    )  # (n, 3)
    rotvec = rng.normal(0.0, 0.02, (count, 3))  # (n, 3)
    rotvec[:, 1] += rng.normal(0.0, 0.1, count)  # yaw about the camera y axis
    rotation = Rotation.from_rotvec(rotvec).as_matrix()  # (n, 3, 3)
    return make_pose(rotation, translation).reshape(*shape, 4, 4)
