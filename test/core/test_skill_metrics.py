"""Per-pair skill measures: a prior scores none, the truth all, a reversal points the wrong way."""

import numpy as np
import pytest

from la_pose_core.baselines import constant_velocity_trajectory
from la_pose_core.geometry import chain_relative_poses, make_pose, matrix_from_quaternion
from la_pose_core.metrics import evaluate_trajectory, pair_skill, yaw_left


def turn_left(angle_rad: float) -> np.ndarray:
    """Rotation about the camera's up axis (-y in the optical frame) by ``angle_rad``."""
    half = -angle_rad / 2  # about +y by -angle
    return matrix_from_quaternion([0.0, np.sin(half), 0.0, np.cos(half)])


def drive(yaws_rad, steps_m) -> np.ndarray:
    """A trajectory whose pair i turns by ``yaws_rad[i]`` and moves ``steps_m[i]`` forward."""
    motions = np.stack(
        [make_pose(turn_left(a), [0.0, 0.0, s]) for a, s in zip(yaws_rad, steps_m, strict=True)]
    )
    return chain_relative_poses(motions)


@pytest.fixture
def truth() -> np.ndarray:
    rng = np.random.default_rng(0)
    return drive(rng.normal(0.0, 0.05, 30), rng.uniform(0.5, 3.0, 30))


def test_a_left_turn_has_positive_yaw():
    motion = make_pose(turn_left(0.2), [0.0, 0.0, 1.0])[None]
    assert yaw_left(motion) == pytest.approx([0.2])
    forward = motion[0, :3, :3] @ [0.0, 0.0, 1.0]
    assert forward[0] < 0  # the new viewing direction is to the left (-x)


def test_the_truth_scores_full_skill(truth):
    skill = pair_skill(truth, truth)
    assert skill["yaw_corr"] == pytest.approx(1.0)
    assert skill["yaw_spread_ratio"] == pytest.approx(1.0)
    assert skill["step_corr"] == pytest.approx(1.0)
    assert skill["step_spread_ratio"] == pytest.approx(1.0)
    assert skill["rotation_err_deg"] == pytest.approx(0.0, abs=1e-6)
    assert skill["right_way_pct"] == 100.0 and skill["num_moving_pairs"] == 30


def test_a_constant_motion_prior_scores_no_skill(truth):
    prior = constant_velocity_trajectory(truth, np.arange(len(truth), dtype=float))
    skill = pair_skill(truth, prior)
    assert skill["yaw_corr"] == 0.0 and skill["step_corr"] == 0.0
    assert skill["yaw_spread_ratio"] == pytest.approx(0.0, abs=1e-9)
    assert skill["step_spread_ratio"] == pytest.approx(0.0, abs=1e-9)
    assert skill["rotation_err_deg"] > 1.0


def test_scaled_and_mirrored_estimates(truth):
    motions = np.linalg.inv(truth[:-1]) @ truth[1:]
    yaws = yaw_left(motions)
    steps = motions[:, 2, 3]
    half_turns = pair_skill(truth, drive(yaws / 2, steps))
    assert half_turns["yaw_corr"] == pytest.approx(1.0) and half_turns["yaw_spread_ratio"] == (
        pytest.approx(0.5)
    )
    double_steps = pair_skill(truth, drive(yaws, 2 * steps))
    assert double_steps["step_corr"] == pytest.approx(1.0)
    assert double_steps["step_spread_ratio"] == pytest.approx(2.0)
    mirrored = pair_skill(truth, drive(-yaws, -steps))  # wrong turns, reversing
    assert mirrored["yaw_corr"] == pytest.approx(-1.0) and mirrored["right_way_pct"] == 0.0


def test_a_straight_truth_has_no_yaw_correlation_and_still_pairs_are_left_out():
    truth = drive(np.zeros(5), [1.0, 1.0, 0.0, 1.0, 1.0])
    skill = pair_skill(truth, truth)
    assert np.isnan(skill["yaw_corr"]) and np.isnan(skill["yaw_spread_ratio"])
    assert skill["num_moving_pairs"] == 4


def test_evaluate_trajectory_reports_the_skill(truth):
    metrics = evaluate_trajectory(truth, truth, clip_len=16)
    assert metrics["yaw_corr"] == pytest.approx(1.0) and metrics["right_way_pct"] == 100.0
