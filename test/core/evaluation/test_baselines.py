"""Baselines: constant velocity (exact on constant motion), OpenCV monocular VO on KITTI."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from la_pose_core.baselines import (
    MonocularVO,
    constant_velocity_motions,
    constant_velocity_trajectory,
)
from la_pose_core.data.kitti import KittiSequence
from la_pose_core.geometry import chain_relative_poses, inverse, make_pose, rotation_angle
from la_pose_core.metrics import evaluate_trajectory


def turn(yaw: float, forward: float) -> np.ndarray:
    """A motion turning by ``yaw`` about the optical y axis while moving ``forward`` on z."""
    return make_pose(Rotation.from_euler("y", yaw).as_matrix(), [0.0, 0.0, forward])


def test_constant_velocity_reproduces_constant_motion_and_scales_with_time():
    truth = chain_relative_poses(np.stack([turn(0.05, 2.0)] * 5))
    stamps = np.arange(6) * 0.5
    np.testing.assert_allclose(constant_velocity_trajectory(truth, stamps), truth, atol=1e-12)

    motions = constant_velocity_motions(turn(0.2, 4.0), np.array([0.5, 0.25, 1.0]))
    assert rotation_angle(motions[1][:3, :3]) == pytest.approx(0.1)
    assert rotation_angle(motions[2][:3, :3]) == pytest.approx(0.4)
    np.testing.assert_allclose(motions[:, 2, 3], [4.0, 2.0, 8.0])
    with pytest.raises(ValueError, match="positive"):
        constant_velocity_motions(turn(0.0, 1.0), np.array([0.5, 0.0]))


def test_opencv_vo_with_ground_truth_steps_follows_kitti(kitti_sample):
    sequence = KittiSequence(kitti_sample)
    used = list(range(0, 46, 5))  # ~2 fps, as the evaluation uses it
    truth = sequence.world_from_cam[used]
    vo = MonocularVO(sequence.intrinsics.matrix)
    motions = []
    for k, index in enumerate(used):
        length = 0.0 if k == 0 else np.linalg.norm((inverse(truth[k - 1]) @ truth[k])[:3, 3])
        motion = vo.step(sequence.image(index), length)
        assert (motion is None) == (k == 0)
        if motion is not None:
            assert motion[2, 3] > 0.9 * length  # driving forward: +z in the optical frame
            motions.append(motion)
    assert vo.stats.pairs == len(used) - 1 and vo.stats.failures == 0
    assert vo.stats.mean_inliers > 50
    metrics = evaluate_trajectory(truth, chain_relative_poses(np.stack(motions)), clip_len=10)
    assert metrics["ate_s"] < 0.03 and metrics["auc30"] > 90 and metrics["rpe_trans_pct"] < 5


def test_opencv_vo_falls_back_to_the_last_motion_on_featureless_frames(kitti_sample):
    sequence = KittiSequence(kitti_sample)
    vo = MonocularVO(sequence.intrinsics.matrix, features="orb")
    vo.step(sequence.image(0))
    good = vo.step(sequence.image(5), 4.0)
    blank = np.full_like(sequence.image(10), 128)
    fallback = vo.step(blank, 2.0)
    assert vo.stats.failures == 1
    np.testing.assert_allclose(fallback[:3, :3], good[:3, :3])
    np.testing.assert_allclose(fallback[:3, 3], good[:3, 3] / 2.0)
    with pytest.raises(ValueError, match="features"):
        MonocularVO(np.eye(3), features="sift")
