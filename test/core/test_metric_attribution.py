"""Truth put back one part at a time: each part repairs exactly the error made in that part."""

import numpy as np
import pytest

from la_pose_core.geometry import adjacent_relative_poses, chain_relative_poses, make_pose
from la_pose_core.metrics.attribution import PARTS, metric_attribution, with_true_part
from test.core.test_skill_metrics import drive, turn_left


@pytest.fixture
def truth() -> np.ndarray:
    rng = np.random.default_rng(1)
    return drive(rng.normal(0.0, 0.1, 31), rng.uniform(0.5, 3.0, 31))


def _edit(truth: np.ndarray, edit) -> np.ndarray:
    motions = adjacent_relative_poses(truth)  # (P, 4, 4)
    return chain_relative_poses(np.stack([edit(motion) for motion in motions]))


def _overturned(motion):  # each rotation 1.3 times too large about the up axis
    yaw = np.arctan2(-motion[0, 2], motion[2, 2])
    return make_pose(turn_left(1.3 * yaw), motion[:3, 3])


def _sideways(motion):  # each translation turned by 5 degrees to the right, same length
    return make_pose(motion[:3, :3], turn_left(-np.radians(5.0)) @ motion[:3, 3])


def _halved(motion):  # each step half as long
    return make_pose(motion[:3, :3], 0.5 * motion[:3, 3])


@pytest.mark.parametrize(
    ("edit", "repairing_part"),
    [(_overturned, "true_rotations"), (_sideways, "true_directions"), (_halved, "true_lengths")],
)
def test_only_the_part_that_was_wrong_repairs_the_estimate(truth, edit, repairing_part):
    estimate = _edit(truth, edit)
    for part in PARTS:
        repaired = with_true_part(truth, estimate, part)
        if part == repairing_part:
            np.testing.assert_allclose(repaired, truth, atol=1e-9)
        else:
            assert np.abs(repaired - truth).max() > 1e-3


def test_the_attribution_scores_each_repaired_trajectory(truth):
    estimate = _edit(truth, _overturned)
    attribution = metric_attribution(truth, estimate)
    assert set(attribution) == set(PARTS)
    assert attribution["true_rotations"]["auc5"] == pytest.approx(100.0)
    assert attribution["true_rotations"]["ate_m"] == pytest.approx(0.0, abs=1e-6)
    assert attribution["true_lengths"]["auc5"] < 100.0


def test_an_unknown_part_is_refused(truth):
    with pytest.raises(ValueError, match="unknown part"):
        with_true_part(truth, truth, "true_everything")
