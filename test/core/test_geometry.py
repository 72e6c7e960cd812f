"""Property tests of the pose algebra (conventions: la_pose_core/geometry/__init__.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from la_pose_core.geometry import (
    BASE_FROM_OPTICAL,
    adjacent_relative_poses,
    base_motion_from_camera_motion,
    camera_motion_from_base_motion,
    canonical_quaternion,
    chain_relative_poses,
    denormalize_translations,
    inverse,
    make_pose,
    matrix_from_quaternion,
    normalize_translations,
    pose_from_translation_quaternion,
    quaternion_from_matrix,
    relative_poses,
    rotation_angle,
    translation_quaternion_from_pose,
)
from test.core.strategies import poses, quaternions, trajectories, translations

settings.register_profile("la_pose", max_examples=60, deadline=None)
settings.load_profile("la_pose")


@given(quaternions)
def test_quaternion_matrix_round_trip_is_canonical(quaternion):
    canonical = canonical_quaternion(quaternion)
    assert canonical[3] > -1e-9  # w >= 0 up to the tolerance of 180-degree rotations
    assert np.isclose(np.linalg.norm(canonical), 1.0)
    np.testing.assert_allclose(
        quaternion_from_matrix(matrix_from_quaternion(quaternion)), canonical, atol=1e-9
    )


@given(quaternions)
def test_q_and_minus_q_are_the_same_rotation(quaternion):
    np.testing.assert_allclose(
        matrix_from_quaternion(quaternion), matrix_from_quaternion(-quaternion), atol=1e-12
    )


def test_quaternion_order_is_xyzw():
    # 90 degrees about +z: (x, y, z, w) = (0, 0, sin 45, cos 45) maps x onto y.
    rotation = matrix_from_quaternion(np.array([0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]))
    np.testing.assert_allclose(rotation @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)


def test_zero_quaternion_is_rejected():
    with pytest.raises(ValueError, match="zero length"):
        canonical_quaternion(np.zeros(4))


@given(poses())
def test_inverse_composes_to_identity(pose):
    np.testing.assert_allclose(pose @ inverse(pose), np.eye(4), atol=1e-9)
    np.testing.assert_allclose(inverse(inverse(pose)), pose, atol=1e-9)


@given(poses(), poses(), poses())
def test_composition_is_associative_and_inverse_reverses_order(a, b, c):
    np.testing.assert_allclose((a @ b) @ c, a @ (b @ c), atol=1e-7)
    np.testing.assert_allclose(inverse(a @ b), inverse(b) @ inverse(a), atol=1e-7)


@given(translations, quaternions)
def test_translation_quaternion_round_trip(translation, quaternion):
    pose = pose_from_translation_quaternion(translation, quaternion)
    t, q = translation_quaternion_from_pose(pose)
    np.testing.assert_allclose(t, translation)
    np.testing.assert_allclose(q, canonical_quaternion(quaternion), atol=1e-9)


@given(trajectories())
def test_chaining_adjacent_motions_rebuilds_the_trajectory(world_from_cam):
    motions = adjacent_relative_poses(world_from_cam)
    rebuilt = chain_relative_poses(motions, world_from_first=world_from_cam[0])
    np.testing.assert_allclose(rebuilt, world_from_cam, atol=1e-6)


@given(trajectories(min_frames=3), poses())
def test_relative_poses_do_not_depend_on_the_world_frame(world_from_cam, new_world_from_world):
    moved = new_world_from_world @ world_from_cam
    np.testing.assert_allclose(relative_poses(moved), relative_poses(world_from_cam), atol=1e-6)


@given(trajectories(min_frames=3))
def test_relative_pose_matrix_matches_adjacent_and_its_definition(world_from_cam):
    pairwise = relative_poses(world_from_cam)
    adjacent = adjacent_relative_poses(world_from_cam)
    for i in range(len(world_from_cam) - 1):
        np.testing.assert_allclose(pairwise[i, i + 1], adjacent[i], atol=1e-9)
    # p_i = cam_i_from_cam_j @ p_j for a point seen from both cameras
    point_world = np.array([1.0, 2.0, 3.0, 1.0])
    p0 = inverse(world_from_cam[0]) @ point_world
    p2 = inverse(world_from_cam[2]) @ point_world
    np.testing.assert_allclose(pairwise[0, 2] @ p2, p0, atol=1e-6)


def test_forward_driving_is_plus_z_in_the_previous_camera():
    world_from_cam = np.stack([np.eye(4), make_pose(np.eye(3), [0.0, 0.0, 2.0])])
    np.testing.assert_allclose(adjacent_relative_poses(world_from_cam)[0, :3, 3], [0.0, 0.0, 2.0])


@given(quaternions)
def test_rotation_angle_matches_quaternion_angle(quaternion):
    q = canonical_quaternion(quaternion)
    expected = 2.0 * np.arccos(np.clip(q[3], -1.0, 1.0))
    assert rotation_angle(matrix_from_quaternion(q)) == pytest.approx(expected, abs=1e-6)


def test_optical_axes_map_to_base_link_axes():
    rotation = BASE_FROM_OPTICAL[:3, :3]
    np.testing.assert_array_equal(rotation @ [0, 0, 1], [1, 0, 0])  # optical forward -> base x
    np.testing.assert_array_equal(rotation @ [1, 0, 0], [0, -1, 0])  # optical right -> base -y
    np.testing.assert_array_equal(rotation @ [0, 1, 0], [0, 0, -1])  # optical down -> base -z
    assert np.isclose(np.linalg.det(rotation), 1.0)


def test_camera_driving_forward_moves_base_link_along_x():
    camera_motion = make_pose(np.eye(3), [0.0, 0.0, 1.5])
    base_motion = base_motion_from_camera_motion(camera_motion)
    np.testing.assert_allclose(base_motion[:3, 3], [1.5, 0.0, 0.0], atol=1e-12)
    # a camera turning right (yaw about its -y axis... i.e. +y down) is the vehicle yawing right
    yaw_right = make_pose(
        matrix_from_quaternion([0.0, np.sin(0.05), 0.0, np.cos(0.05)]), np.zeros(3)
    )
    base_yaw = base_motion_from_camera_motion(yaw_right)[:3, :3]
    assert base_yaw[1, 0] < 0.0  # base x axis swings towards -y (right)


@given(poses(), poses())
def test_base_and_camera_motion_conversions_are_inverse(motion, base_from_camera):
    there = base_motion_from_camera_motion(motion, base_from_camera)
    np.testing.assert_allclose(
        camera_motion_from_base_motion(there, base_from_camera), motion, atol=1e-6
    )


@given(st.lists(translations, min_size=1, max_size=15))
def test_scale_decoupling_round_trip(translation_list):
    translations_m = np.array(translation_list)
    normalized, scale = normalize_translations(translations_m)
    assert scale == pytest.approx(np.linalg.norm(translations_m, axis=1).mean())
    np.testing.assert_allclose(
        denormalize_translations(normalized, scale), translations_m, atol=1e-9
    )
    if scale >= 1.0:
        assert np.linalg.norm(normalized, axis=1).mean() == pytest.approx(1.0)


def test_scale_decoupling_keeps_slow_clips_metric():
    slow = np.array([[0.0, 0.0, 0.2], [0.0, 0.0, 0.4]])
    normalized, scale = normalize_translations(slow)
    assert scale == pytest.approx(0.3)
    np.testing.assert_array_equal(normalized, slow)  # divided by max(0.3, 1) = 1
