"""Reported poses by stamp: exact lookup, interpolation between neighbours, horizon."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from la_pose_core.geometry import make_pose
from la_pose_core.inference.pose_history import PoseHistory, interpolate_pose


def yawed(degrees: float, x: float) -> np.ndarray:
    rotation = Rotation.from_euler("y", degrees, degrees=True).as_matrix()  # optical y: down
    return make_pose(rotation, [x, 0.0, 2.0 * x])


def test_lookup_is_exact_for_reported_stamps_and_interpolated_between():
    history = PoseHistory(horizon_s=10.0)
    history.add(1.0, yawed(0.0, 0.0))
    history.add(1.5, yawed(10.0, 1.0))
    np.testing.assert_array_equal(history.at(1.5), yawed(10.0, 1.0))
    np.testing.assert_allclose(history.at(1.1), yawed(2.0, 0.2), atol=1e-12)
    assert history.at(0.9) is None and history.at(1.6) is None


def test_interpolation_ends_at_its_endpoints():
    before, after = yawed(-5.0, 0.3), yawed(20.0, 1.2)
    np.testing.assert_allclose(interpolate_pose(before, after, 0.0), before, atol=1e-12)
    np.testing.assert_allclose(interpolate_pose(before, after, 1.0), after, atol=1e-12)


def test_old_poses_leave_but_one_stays_before_the_horizon():
    history = PoseHistory(horizon_s=1.0)
    for index in range(30):
        history.add(round(0.1 * index, 6), yawed(index, 0.1 * index))
    assert history.stamps[:2] == [1.8, 1.9]  # 1.9 = 2.9 - horizon: still inside
    assert history.at(1.95) is not None
    with pytest.raises(ValueError, match="stamps must increase"):
        history.add(2.9, np.eye(4))
    history.clear()
    assert len(history) == 0 and history.at(1.0) is None
