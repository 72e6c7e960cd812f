"""Vehicle odometry from camera motions: frames, chaining, covariance, restarts."""

import numpy as np
import pytest

from la_pose_core.geometry import (
    BASE_FROM_OPTICAL,
    make_pose,
    matrix_from_quaternion,
    quaternion_from_matrix,
)
from la_pose_core.odometry import CovarianceModel, VehicleOdometry

FORWARD = np.array([0.0, 0.0, 1.0])  # one metre along the camera's optical axis
NO_TURN = np.array([0.0, 0.0, 0.0, 1.0])


def test_camera_forward_motion_is_base_link_x_and_chains():
    odometry = VehicleOdometry()
    first = odometry.update(10.0, None, None, None)
    assert first.restarted and first.started_over
    np.testing.assert_array_equal(first.odom_from_base, np.eye(4))
    for step in range(1, 4):
        estimate = odometry.update(10.0 + 0.5 * step, 10.0 + 0.5 * (step - 1), FORWARD, NO_TURN)
    np.testing.assert_allclose(estimate.odom_from_base[:3, 3], [3.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(estimate.linear_velocity, [2.0, 0.0, 0.0], atol=1e-12)


def test_a_camera_mounted_with_a_lever_arm_turning_in_place():
    base_from_camera = BASE_FROM_OPTICAL.copy()
    base_from_camera[:3, 3] = [1.5, 0.0, 1.6]  # 1.5 m ahead of base_link, 1.6 m up
    odometry = VehicleOdometry(base_from_camera)
    odometry.update(0.0, None, None, None)
    # the vehicle yaws 90 degrees left about base_link: the camera swings on its lever arm
    base_motion = make_pose(
        matrix_from_quaternion([0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)]), [0, 0, 0]
    )
    camera_motion = np.linalg.inv(base_from_camera) @ base_motion @ base_from_camera
    quaternion = quaternion_from_matrix(camera_motion[:3, :3])
    estimate = odometry.update(1.0, 0.0, camera_motion[:3, 3], quaternion)
    np.testing.assert_allclose(estimate.odom_from_base, base_motion, atol=1e-9)
    np.testing.assert_allclose(estimate.angular_velocity, [0, 0, np.pi / 2], atol=1e-9)


def test_covariance_grows_and_is_finite_and_large_when_unknown():
    model = CovarianceModel(
        translation_std_fraction=0.1, translation_std_floor_m=0.01, rotation_std_rad=0.01
    )
    odometry = VehicleOdometry(covariance=model)
    first = odometry.update(0.0, None, None, None)
    assert np.all(first.pose_covariance == 0.0)
    assert np.all(np.diag(first.twist_covariance) == model.unknown_variance)
    second = odometry.update(1.0, 0.0, 2 * FORWARD, NO_TURN)
    np.testing.assert_allclose(np.diag(second.pose_covariance)[:3], 0.2**2)
    np.testing.assert_allclose(np.diag(second.twist_covariance)[3:], 0.01**2)
    third = odometry.update(1.5, 1.0, 2 * FORWARD, NO_TURN)
    np.testing.assert_allclose(np.diag(third.pose_covariance)[:3], 2 * 0.2**2)
    np.testing.assert_allclose(np.diag(third.twist_covariance)[:3], 0.2**2 / 0.25)
    for estimate in (first, second, third):
        assert (
            np.all(np.isfinite(estimate.pose_covariance)) and estimate.twist_covariance.max() < 1e12
        )


def test_a_gap_continues_with_inflated_covariance_and_time_backwards_starts_over():
    odometry = VehicleOdometry()
    odometry.update(0.0, None, None, None)
    odometry.update(0.5, 0.0, FORWARD, NO_TURN)
    gap = odometry.update(5.0, None, None, None)  # tracking restarted after a gap
    assert gap.restarted and not gap.started_over
    np.testing.assert_allclose(gap.odom_from_base[:3, 3], [1.0, 0.0, 0.0])
    assert gap.pose_covariance[0, 0] >= CovarianceModel().unknown_variance
    backwards = odometry.update(1.0, None, None, None)  # a bag loop
    assert backwards.started_over
    np.testing.assert_array_equal(backwards.odom_from_base, np.eye(4))
    assert np.all(backwards.pose_covariance == 0.0)


def test_invalid_input_is_rejected():
    odometry = VehicleOdometry()
    odometry.update(1.0, None, None, None)
    with pytest.raises(ValueError, match="increase"):
        odometry.update(1.0, 1.0, FORWARD, NO_TURN)
    with pytest.raises(ValueError):
        CovarianceModel(unknown_variance=1e308)


def test_camera_rate_odometry_takes_the_chained_pose_and_the_pair_twist():
    """update_on_track: interleaved pairs (each 0.5 s long, a frame every 0.1 s) give the pose of
    the estimator's chain, the twist of the pair, and the earlier frame's covariance plus the
    pair's."""
    model = CovarianceModel(translation_std_fraction=0.1, translation_std_floor_m=0.0)
    odometry = VehicleOdometry(covariance=model)
    first = odometry.update_on_track(10.0, None, None, None, np.eye(4))
    assert first.started_over
    track_from_cam = np.eye(4)
    for index in range(5, 15):  # the camera moves 2 m/s along its optical axis
        stamp = 10.0 + 0.1 * index
        track_from_cam[2, 3] = 0.2 * index
        estimate = odometry.update_on_track(stamp, stamp - 0.5, FORWARD, NO_TURN, track_from_cam)
        np.testing.assert_allclose(estimate.odom_from_base[:3, 3], [0.2 * index, 0, 0])
        np.testing.assert_allclose(estimate.linear_velocity, [2.0, 0.0, 0.0], atol=1e-12)
    # the last pair (11.4 from 10.9) chains onto 10.9's, which chained onto the first frame's
    np.testing.assert_allclose(np.diag(estimate.pose_covariance)[:3], 2 * 0.1**2)
    # a gap continues from the last pose, a new track's poses are relative to it
    gap = odometry.update_on_track(20.0, None, None, None, np.eye(4))
    assert gap.restarted and not gap.started_over
    track_from_cam[2, 3] = 1.0
    after = odometry.update_on_track(20.5, 20.0, FORWARD, NO_TURN, track_from_cam)
    np.testing.assert_allclose(after.odom_from_base[:3, 3], [2.8 + 1.0, 0.0, 0.0])
    assert after.pose_covariance[0, 0] >= model.unknown_variance
