"""Metrics against hand-built answers and against evo (the reference implementation of ATE)."""

import numpy as np
import pytest
from evo.core import geometry as evo_geometry
from evo.core import metrics as evo_metrics
from evo.core.trajectory import PoseTrajectory3D

from la_pose_core.data import read_kitti_poses
from la_pose_core.geometry import make_pose, matrix_from_quaternion
from la_pose_core.metrics import (
    ate_metric,
    ate_scale_normalized,
    auc,
    clip_slices,
    evaluate_trajectory,
    kitti_rpe,
    pair_errors,
    segment_lengths_for,
    umeyama_alignment,
)
from la_pose_core.metrics.pairwise import NON_FINITE_ERROR_DEG


def yaw(angle_rad: float) -> np.ndarray:
    """Rotation about the camera's y axis (down): a turn of a forward-looking camera."""
    return matrix_from_quaternion([0.0, np.sin(angle_rad / 2), 0.0, np.cos(angle_rad / 2)])


def straight_drive(frames: int, step_m: float = 1.0) -> np.ndarray:
    return np.stack([make_pose(np.eye(3), [0.0, 0.0, step_m * i]) for i in range(frames)])


def random_trajectory(rng: np.random.Generator, frames: int) -> np.ndarray:
    """A wiggly drive: random yaw rate and speed, small pitch/roll, positions in metres."""
    poses, pose = [], np.eye(4)
    for _ in range(frames):
        poses.append(pose)
        turn = matrix_from_quaternion(np.concatenate([rng.normal(0, 0.03, 3), [1.0]]))
        pose = pose @ make_pose(
            turn, [rng.normal(0, 0.1), rng.normal(0, 0.05), rng.uniform(0.5, 2.0)]
        )
    return np.stack(poses)


def perturb(trajectory: np.ndarray, rng: np.random.Generator, sigma_m: float = 0.3) -> np.ndarray:
    """Move the trajectory rigidly somewhere else and add noise to positions and rotations."""
    offset = make_pose(matrix_from_quaternion(rng.normal(size=4)), rng.normal(0, 10, 3))
    noisy = offset @ trajectory
    noisy[:, :3, 3] += rng.normal(0, sigma_m, (len(trajectory), 3))
    noisy[:, :3, :3] = noisy[:, :3, :3] @ np.stack(
        [
            matrix_from_quaternion(np.concatenate([rng.normal(0, 0.01, 3), [1.0]]))
            for _ in trajectory
        ]
    )
    return noisy


def evo_ape_rmse(reference: np.ndarray, estimate: np.ndarray, correct_scale: bool = False) -> float:
    stamps = np.arange(len(reference), dtype=float)
    ref = PoseTrajectory3D(poses_se3=list(reference), timestamps=stamps)
    est = PoseTrajectory3D(poses_se3=list(estimate), timestamps=stamps)
    est.align(ref, correct_scale=correct_scale)
    ape = evo_metrics.APE(evo_metrics.PoseRelation.translation_part)
    ape.process_data((ref, est))
    return ape.get_statistic(evo_metrics.StatisticsType.rmse)


# --- AUC -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        ([0.0, 0.0, 0.0], 100.0),
        ([0.5, 1.5, 2.5, 3.5, 4.5], 60.0),  # cumulative 0.2, 0.4, 0.6, 0.8, 1.0
        ([0.5, 100.0], 50.0),  # errors above the threshold still count in the denominator
        ([7.0, NON_FINITE_ERROR_DEG], 0.0),
        ([5.0, 7.0, 9.0], 100 / 15),  # numpy's last bin is closed: 5.0 counts in [4, 5]
        ([4.99], 20.0),  # only the last 1-degree step
    ],
)
def test_auc_on_hand_built_errors(errors, expected):
    assert auc(np.array(errors), 5) == pytest.approx(expected)


def test_auc_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        auc(np.array([]), 5)


# --- pair errors ---------------------------------------------------------------------------


def test_pair_errors_see_a_known_rotation_error():
    gt = straight_drive(4)
    est = gt.copy()
    est[3, :3, :3] = yaw(np.radians(3.5))  # the last camera is turned by 3.5 degrees
    errors = pair_errors(gt, est)
    # pairs in order (0,1), (0,2), (0,3), (1,2), (1,3), (2,3): those with frame 3 are off by 3.5
    np.testing.assert_allclose(errors.rotation_deg, [0, 0, 3.5, 0, 3.5, 3.5], atol=1e-9)
    np.testing.assert_allclose(errors.translation_deg, 0.0, atol=1e-6)
    # half the pairs are below every threshold, half only below 4 and 5: (3 * 0.5 + 2 * 1) / 5
    assert auc(errors.max_deg, 5) == pytest.approx(70.0)


def test_translation_direction_error_ignores_scale_and_sign():
    gt = straight_drive(5)
    scaled = straight_drive(5, step_m=7.0)
    reversed_ = straight_drive(5, step_m=-1.0)
    assert np.allclose(pair_errors(gt, scaled).translation_deg, 0.0)
    assert np.allclose(pair_errors(gt, reversed_).translation_deg, 0.0)


def test_translation_direction_error_of_a_sideways_estimate_is_90_degrees():
    gt = straight_drive(3)
    sideways = np.stack([make_pose(np.eye(3), [1.0 * i, 0.0, 0.0]) for i in range(3)])
    np.testing.assert_allclose(pair_errors(gt, sideways).translation_deg, 90.0)


def test_standing_still_pairs_are_judged_on_rotation_only():
    gt = np.stack([make_pose(np.eye(3), [0.0, 0.0, z]) for z in (0.0, 0.0, 2.0)])
    est = np.stack([make_pose(np.eye(3), p) for p in ([0, 0, 0], [5.0, 0, 0], [0, 0, 2.0])])
    errors = pair_errors(gt, est)
    np.testing.assert_array_equal(errors.still, [True, False, False])
    assert errors.translation_deg[0] == 0.0  # the estimate's sideways jump has no gt direction
    assert errors.translation_deg[2] > 60.0  # (1, 2): gt forward, estimate diagonal backwards


def test_an_estimate_that_does_not_move_while_the_car_does_fails_every_threshold():
    gt = straight_drive(3)
    est = np.stack([np.eye(4)] * 3)
    errors = pair_errors(gt, est)
    assert np.all(errors.translation_deg > NON_FINITE_ERROR_DEG / 2)
    assert auc(errors.max_deg, 5) == 0.0


# --- Umeyama and ATE against evo -----------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("with_scale", [False, True])
def test_umeyama_matches_evo(seed, with_scale):
    rng = np.random.default_rng(seed)
    source = rng.normal(size=(20, 3))
    target = rng.normal(size=(20, 3))
    ours = umeyama_alignment(source, target, with_scale)
    rotation, translation, scale = evo_geometry.umeyama_alignment(source.T, target.T, with_scale)
    np.testing.assert_allclose(ours.rotation, rotation, atol=1e-9)
    np.testing.assert_allclose(ours.translation, translation, atol=1e-9)
    assert ours.scale == pytest.approx(scale, abs=1e-9)


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(30, 3))
    rotation = matrix_from_quaternion([0.2, -0.3, 0.1, 0.9])
    target = 2.5 * source @ rotation.T + [1.0, -2.0, 3.0]
    alignment = umeyama_alignment(source, target, with_scale=True)
    np.testing.assert_allclose(alignment.rotation, rotation, atol=1e-9)
    assert alignment.scale == pytest.approx(2.5)
    np.testing.assert_allclose(alignment.apply(source), target, atol=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_ate_metric_matches_evo_on_random_trajectories(seed):
    rng = np.random.default_rng(seed)
    gt = random_trajectory(rng, 16)
    est = perturb(gt, rng)
    assert ate_metric(gt, est) == pytest.approx(evo_ape_rmse(gt, est), abs=1e-6)


def test_ate_metric_matches_evo_on_the_real_kitti_sample(kitti_sample):
    gt = read_kitti_poses(kitti_sample / "poses.txt")
    est = perturb(gt, np.random.default_rng(42), sigma_m=0.5)
    assert ate_metric(gt, est) == pytest.approx(evo_ape_rmse(gt, est), abs=1e-6)
    for clip in clip_slices(len(gt), 16):
        assert ate_metric(gt[clip], est[clip]) == pytest.approx(
            evo_ape_rmse(gt[clip], est[clip]), abs=1e-6
        )


@pytest.mark.parametrize("seed", range(4))
def test_ate_s_equals_evo_on_normalised_positions(seed):
    rng = np.random.default_rng(seed)
    gt = random_trajectory(rng, 16)
    est = perturb(gt, rng)

    def normalised(trajectory):
        out = trajectory.copy()
        centres = out[:, :3, 3] - out[:, :3, 3].mean(axis=0)
        out[:, :3, 3] = centres / np.linalg.norm(centres, axis=1).mean()
        return out

    expected = evo_ape_rmse(normalised(gt), normalised(est))
    assert ate_scale_normalized(gt, est) == pytest.approx(expected, abs=1e-6)


def test_ate_s_ignores_scale_and_ate_m_does_not():
    rng = np.random.default_rng(3)
    gt = random_trajectory(rng, 16)
    est = gt.copy()
    est[:, :3, 3] *= 3.0
    assert ate_scale_normalized(gt, est) == pytest.approx(0.0, abs=1e-9)
    assert ate_metric(gt, est) > 1.0


def test_a_straight_clip_aligns_without_error_where_evo_refuses():
    gt = straight_drive(16)
    est = make_pose(yaw(0.3), [4.0, 0.0, -1.0]) @ straight_drive(16)  # same line, moved
    assert ate_metric(gt, est) == pytest.approx(0.0, abs=1e-9)
    assert ate_scale_normalized(gt, est) == pytest.approx(0.0, abs=1e-9)
    assert umeyama_alignment(est[:, :3, 3], gt[:, :3, 3], with_scale=False).degenerate


def test_a_static_clip_has_no_ate_s_and_a_translation_only_ate_m():
    gt = np.stack([np.eye(4)] * 16)
    est = gt.copy()
    est[:, :3, 3] = [1.0, 2.0, 3.0]
    assert np.isnan(ate_scale_normalized(gt, est))
    assert ate_metric(gt, est) == pytest.approx(0.0, abs=1e-12)


# --- RPE -----------------------------------------------------------------------------------


def test_rpe_is_zero_for_a_perfect_estimate_and_sees_a_scale_error():
    gt = random_trajectory(np.random.default_rng(1), 120)
    assert kitti_rpe(gt, gt).translation_pct == pytest.approx(0.0, abs=1e-9)
    assert kitti_rpe(gt, gt).rotation_deg_per_m == pytest.approx(0.0, abs=1e-6)
    straight = straight_drive(60)
    too_long = straight_drive(60, step_m=1.1)
    # a segment of L = 20 m ends at the first frame more than 20 m on (21 m, as in the devkit),
    # where the estimate is 2.1 m off: 2.1 / 20 = 10.5 %
    rpe = kitti_rpe(straight, too_long, segment_lengths_m=(20.0,))
    assert rpe.translation_pct == pytest.approx(10.5, rel=1e-9)
    assert rpe.num_segments == 60 - 21


def test_rpe_rotation_drift_in_degrees_per_metre():
    gt = straight_drive(201)  # 200 m straight ahead
    drifting = np.stack(
        [make_pose(yaw(np.radians(0.01 * i)), [0.0, 0.0, 1.0 * i]) for i in range(201)]
    )
    rpe = kitti_rpe(gt, drifting, segment_lengths_m=(100.0,), step=10)
    # 0.01 degrees of heading per metre; a 100 m segment ends 101 m on (devkit), so 1.01 / 100
    assert rpe.rotation_deg_per_m == pytest.approx(0.0101, rel=1e-6)
    assert rpe.segment_lengths_m == (100.0,)


def test_segment_lengths_are_kitti_ones_or_fractions_of_a_short_path():
    assert segment_lengths_for(350.0) == (100.0, 200.0, 300.0)
    assert segment_lengths_for(80.0) == (20.0, 40.0, 60.0)


# --- whole evaluation ----------------------------------------------------------------------


def test_clip_slices_drop_the_remainder():
    assert clip_slices(40, 16) == [slice(0, 16), slice(16, 32)]
    assert clip_slices(10, 16) == [slice(0, 10)]
    with pytest.raises(ValueError):
        clip_slices(10, 1)


def test_evaluating_ground_truth_against_itself_is_perfect(kitti_sample):
    gt = read_kitti_poses(kitti_sample / "poses.txt")
    result = evaluate_trajectory(gt, gt)
    assert result["auc5"] == 100.0
    assert result["num_clips"] == 5
    assert result["num_pairs"] == 5 * 120
    for key in ("ate_s", "ate_m", "ate_full_m", "rpe_trans_pct", "rpe_rot_deg_per_m"):
        assert result[key] == pytest.approx(0.0, abs=1e-6), key
