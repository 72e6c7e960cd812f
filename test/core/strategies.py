"""Hypothesis strategies for rotations, poses and trajectories."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from la_pose_core.geometry import make_pose, matrix_from_quaternion

finite = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)
quaternions = arrays(np.float64, 4, elements=finite).filter(lambda q: np.linalg.norm(q) > 0.1)
translations = arrays(np.float64, 3, elements=st.floats(-50.0, 50.0, allow_nan=False))


@st.composite
def poses(draw) -> np.ndarray:
    """A random rigid ``(4, 4)`` pose."""
    return make_pose(matrix_from_quaternion(draw(quaternions)), draw(translations))


@st.composite
def trajectories(draw, min_frames: int = 2, max_frames: int = 12) -> np.ndarray:
    """A random ``(N, 4, 4)`` camera-to-world trajectory."""
    count = draw(st.integers(min_frames, max_frames))
    return np.stack([draw(poses()) for _ in range(count)])
