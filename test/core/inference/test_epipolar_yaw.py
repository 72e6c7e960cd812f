"""Epipolar yaw refinement: the 1-D search recovers a known yaw from matches, and declines where
the geometry cannot tell; the model input's intrinsics after crop and resize."""

import math

import numpy as np
import pytest

from la_pose_core.data.synthetic.renderer import intrinsics_from_fov
from la_pose_core.geometry import (
    input_camera_matrix,
    input_vertical_fov,
    make_pose,
    matrix_from_quaternion,
)
from la_pose_core.inference.epipolar_yaw import (
    MIN_MATCHES,
    SampsonCost,
    yaw_correction,
    yaw_rotation,
)
from la_pose_core.metrics.skill import yaw_left

CAMERA = intrinsics_from_fov(256, 128, math.radians(45.0)).matrix


def true_motion(yaw_deg: float, step_m: float = 2.0) -> np.ndarray:
    """cam_prev_from_cam_this: turning left by ``yaw_deg`` while driving ``step_m`` forward."""
    rotation = yaw_rotation(math.radians(yaw_deg)) @ yaw_rotation(0.0)
    pitch = math.radians(0.3)  # a little pitch, which the refinement must leave alone
    rotation = rotation @ np.array(
        [[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]]
    )
    return make_pose(rotation, np.array([0.1, 0.0, step_m]))


def matches(motion: np.ndarray, count: int = 200, noise_px: float = 0.3, outliers: float = 0.2):
    """Pixels of random scene points in both frames (the current frame's points 5-60 m ahead),
    with Gaussian noise and a share of random outliers."""
    rng = np.random.default_rng(0)
    pixels_current = rng.uniform([0, 0], [255, 127], (count, 2))
    depth = rng.uniform(5.0, 60.0, count)
    rays = np.c_[pixels_current, np.ones(count)] @ np.linalg.inv(CAMERA).T  # (M, 3), z = 1
    points_previous = (rays * depth[:, None]) @ motion[:3, :3].T + motion[:3, 3]  # (M, 3)
    projected = points_previous @ CAMERA.T
    pixels_previous = projected[:, :2] / projected[:, 2:]
    pixels_previous += rng.normal(0.0, noise_px, pixels_previous.shape)
    wrong = rng.random(count) < outliers
    pixels_previous[wrong] = rng.uniform([0, 0], [255, 127], (wrong.sum(), 2))
    return pixels_previous, pixels_current


def model_estimate(motion: np.ndarray, yaw_error_deg: float) -> np.ndarray:
    """The true motion with its yaw off by ``yaw_error_deg``, its step 20 % short and its
    direction 0.3 degrees off (a direction error turns into a yaw error of about its size)."""
    estimate = motion.copy()
    estimate[:3, :3] = yaw_rotation(math.radians(yaw_error_deg)) @ motion[:3, :3]
    estimate[:3, 3] = 0.8 * motion[:3, 3] + [0.008, 0.004, 0.0]
    return estimate


def test_yaw_rotation_turns_by_the_signed_yaw():
    for angle in (-0.3, 0.0, 0.01, 0.5):
        assert yaw_left(yaw_rotation(angle)[None])[0] == pytest.approx(angle)


@pytest.mark.parametrize("yaw_deg", [0.0, 0.7, -4.0, 9.0])
@pytest.mark.parametrize("error_deg", [-2.5, 1.0])
def test_the_search_recovers_the_true_yaw_from_noisy_matches_with_outliers(yaw_deg, error_deg):
    motion = true_motion(yaw_deg)
    estimate = model_estimate(motion, error_deg)
    previous, current = matches(motion)
    correction = yaw_correction(estimate, previous, current, CAMERA, 5.0, 1.0)
    refined = yaw_rotation(correction) @ estimate[:3, :3]
    refined_yaw = math.degrees(yaw_left(refined[None])[0])
    assert abs(refined_yaw - yaw_deg) < 0.05  # from 1-2.5 degrees off
    assert correction == pytest.approx(math.radians(-error_deg), abs=math.radians(0.05))


@pytest.mark.parametrize("error_deg", [-9.0, 6.5])
def test_the_coarse_to_fine_search_finds_the_dense_grids_minimum_far_from_the_model(error_deg):
    """+-12 degrees (the default reach) from a model 6.5-9 degrees off: the coarse grid's best,
    refined, is the minimum a dense grid over the whole reach finds, and the true yaw."""
    motion = true_motion(-5.0)
    estimate = model_estimate(motion, error_deg)
    previous, current = matches(motion)
    correction = yaw_correction(estimate, previous, current, CAMERA, 12.0, 1.0)
    dense = np.radians(np.arange(-12.0, 12.0 + 1e-9, 0.005))
    cost = SampsonCost(estimate, previous, current, CAMERA, 1.0)
    assert correction == pytest.approx(dense[np.argmin(cost(dense))], abs=math.radians(0.02))
    assert correction == pytest.approx(math.radians(-error_deg), abs=math.radians(0.05))


def test_it_declines_without_enough_matches_motion_or_an_inner_minimum():
    motion = true_motion(3.0)
    previous, current = matches(motion)
    few = yaw_correction(
        motion, previous[: MIN_MATCHES - 1], current[: MIN_MATCHES - 1], CAMERA, 5, 1
    )
    standing = motion.copy()
    standing[:3, 3] = [0.0, 0.0, 0.05]
    still = yaw_correction(standing, previous, current, CAMERA, 5.0, 1.0)
    far_off = yaw_correction(model_estimate(motion, 8.0), previous, current, CAMERA, 5.0, 1.0)
    assert few is None and still is None and far_off is None
    # the same pair with the estimate within reach is corrected
    assert yaw_correction(model_estimate(motion, 4.0), previous, current, CAMERA, 5, 1) is not None


def test_the_input_intrinsics_follow_the_crop_and_the_resize():
    # KITTI's camera 0 (1241 x 376): cropped to 752 x 376 columns, resized to 256 x 128
    fx, fy, cx, cy = 718.856, 718.856, 607.1928, 185.2157
    matrix = input_camera_matrix(fx, fy, cx, cy, 376, 1241, 128, 256)
    scale = 256 / 752
    assert matrix[0, 0] == pytest.approx(fx * scale) and matrix[1, 1] == pytest.approx(fy * scale)
    left = (1241 - 752) // 2
    assert matrix[0, 2] == pytest.approx((cx - left + 0.5) * scale - 0.5)
    assert matrix[1, 2] == pytest.approx((cy + 0.5) * 128 / 376 - 0.5)
    # the same vertical FoV as the pose head is told
    fov = 2 * math.atan(64 / matrix[1, 1])
    assert fov == pytest.approx(input_vertical_fov(fy, 376, 1241, 128, 256), rel=1e-3)


@pytest.fixture(scope="module")
def turning_drive():
    """The first 24 frames (2 fps) of evaluation drive 302: 7 s straight, then a 90-degree right
    turn."""
    from la_pose_core.data.synthetic.sequence import SyntheticSequence

    return SyntheticSequence(24, 302, size=(256, 128), fps=2.0, grayscale=True)


def stream_yaws(estimator, drive) -> tuple[np.ndarray, list]:
    """Per used pair: the estimated yaw (rad) and the correction the estimator reported."""
    estimator.reset()
    estimator.set_camera_intrinsics(drive.intrinsics)
    yaws, corrections = [], []
    for index in range(len(drive)):
        result = estimator.step(drive.image(index), float(drive.stamps[index]))
        if result is not None and result.quaternion is not None:
            motion = make_pose(matrix_from_quaternion(result.quaternion), result.translation)
            yaws.append(yaw_left(motion[None])[0])
            corrections.append(result.yaw_correction_deg)
    return np.array(yaws), corrections


def test_the_shipped_model_turns_closer_to_the_truth_with_the_epipolar_yaw(
    repo_root, turning_drive
):
    import dataclasses

    from la_pose_core.geometry import adjacent_relative_poses
    from la_pose_core.inference.estimator import PoseEstimator

    estimator = PoseEstimator.from_checkpoint(str(repo_root / "models/la_pose_demo.pt"), "cpu")
    truth = yaw_left(adjacent_relative_poses(turning_drive.world_from_cam))  # (P,)
    streaming = estimator.config.streaming
    errors = {}
    for epipolar in (False, True):
        estimator.set_streaming(dataclasses.replace(streaming, epipolar_yaw=epipolar))
        yaws, corrections = stream_yaws(estimator, turning_drive)
        errors[epipolar] = np.degrees(np.abs(yaws - truth)).mean()
        refined = [c for c in corrections if c is not None]
        if epipolar:
            assert len(refined) >= 0.8 * len(corrections)  # most pairs are refined
        else:
            assert refined == []
    assert errors[True] < 0.3 * errors[False]  # measured: 1.04 -> 0.08 degrees per pair


@pytest.mark.parametrize("content", ["blank", "noise"])
def test_frames_without_matches_leave_the_model_yaw_and_run_on(content):
    """Featureless or unmatched frames (a lens cap, noise) through the tiny model, whose frame
    encoder is not XFeat: the matcher runs its own XFeat pass and reports no correction."""
    import dataclasses

    import torch

    from la_pose_core.inference.estimator import PoseEstimator
    from la_pose_core.model.config import get_config
    from la_pose_core.model.inverse_dynamics import InverseDynamics
    from la_pose_core.model.pose_head import PoseHead

    config = get_config("tiny")
    config = dataclasses.replace(
        config, streaming=dataclasses.replace(config.streaming, epipolar_yaw=True)
    )
    torch.manual_seed(0)
    estimator = PoseEstimator(InverseDynamics(config), PoseHead(config), config, device="cpu")
    rng = np.random.default_rng(0)
    results = []
    for index in range(6):
        if content == "blank":
            image = np.zeros((64, 128), dtype=np.uint8)
        else:
            image = rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)
        results.append(estimator.step(image, 0.5 * index))
    pairs = [result for result in results if result.quaternion is not None]
    assert len(pairs) == 5
    assert all(result.yaw_correction_deg is None for result in pairs)
    assert all(np.isfinite(result.world_from_cam).all() for result in results)


def test_the_corrected_yaws_of_mirrored_footage_are_the_mirrored_yaws(repo_root, turning_drive):
    """With mirror averaging the search also uses the mirrored frames' matches, flipped back,
    so the footage seen in a mirror gives every pair's yaw with the other sign: the
    correction adds no turn of its own (XFeat finds other keypoints in a mirror image; with
    the frames' matches alone this drive's corrected yaws differed by up to 0.16 degrees)."""
    from la_pose_core.data.mirror import MirroredSequence
    from la_pose_core.inference.estimator import PoseEstimator

    estimator = PoseEstimator.from_checkpoint(str(repo_root / "models/la_pose_demo.pt"), "cpu")
    assert estimator.config.streaming.mirror_average and estimator.config.streaming.epipolar_yaw
    yaws, corrections = stream_yaws(estimator, turning_drive)
    mirrored_yaws, mirrored_corrections = stream_yaws(estimator, MirroredSequence(turning_drive))
    assert sum(c is not None for c in corrections) >= 0.8 * len(corrections)
    assert [c is None for c in corrections] == [c is None for c in mirrored_corrections]
    np.testing.assert_allclose(np.degrees(mirrored_yaws), -np.degrees(yaws), atol=1e-3)
