"""Camera-rate output on the real KITTI sample (~10 Hz) with the shipped model.

Odometry comes for every camera frame after the 0.5 s warm-up, stamped with the inputs, and its
trajectory scores no worse than the model-rate chain on the same frames: identical on the
frames the model-rate estimator uses, and better than that chain held at camera rate (what a
consumer of the 2 Hz output has at each camera frame) on ATE and RPE.
"""

import numpy as np
import pytest

from la_pose_core.data import KittiSequence
from la_pose_core.inference.camera_rate import CameraRateEstimator
from la_pose_core.inference.estimator import PoseEstimator
from la_pose_core.metrics import evaluate_trajectory
from la_pose_core.model.config import OutputRateConfig


@pytest.fixture(scope="module")
def trajectories(kitti_sample, repo_root):
    """(ground truth, camera-rate poses, model-rate poses, stamps); poses by frame index."""
    sequence = KittiSequence(kitti_sample)
    model_rate = PoseEstimator.from_checkpoint(str(repo_root / "models/la_pose_demo.pt"), "cpu")
    camera_rate = CameraRateEstimator(model_rate.fork(), OutputRateConfig(mode="camera"))
    camera, model = {}, {}
    stamps = [float(stamp) for stamp in sequence.stamps]
    for index, stamp in enumerate(stamps):
        image = sequence.image(index)
        for estimator, poses in ((camera_rate, camera), (model_rate, model)):
            result = estimator.step(image, stamp)
            if result is not None:
                assert result.stamp == stamp
                poses[index] = result.world_from_cam
    ground_truth = np.linalg.inv(sequence.world_from_cam[0]) @ sequence.world_from_cam
    return ground_truth, camera, model, stamps


def test_every_camera_frame_after_the_warm_up_gets_odometry(trajectories):
    _ground_truth, camera, model, stamps = trajectories
    assert sorted(model) == list(range(0, len(stamps), 5))  # 2 fps of ~10.4 Hz
    assert sorted(camera) == [0, *range(5, len(stamps))]
    reported = [stamps[index] for index in sorted(camera)[1:]]
    rate_hz = (len(reported) - 1) / (reported[-1] - reported[0])
    input_hz = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate_hz == pytest.approx(input_hz, rel=0.01) and rate_hz > 9.5


def test_camera_rate_scores_no_worse_than_the_model_rate_chain(trajectories):
    ground_truth, camera, model, _stamps = trajectories
    for index, pose in model.items():  # the model-rate frames: the same chain
        np.testing.assert_allclose(camera[index], pose, atol=1e-9)
    frames = sorted(camera)
    held = [model[max(m for m in model if m <= index)] for index in frames]
    ours = evaluate_trajectory(ground_truth[frames], np.stack([camera[i] for i in frames]))
    theirs = evaluate_trajectory(ground_truth[frames], np.stack(held))
    for metric in ("ate_full_m", "ate_m", "rpe_trans_pct"):
        assert ours[metric] <= theirs[metric], (metric, ours[metric], theirs[metric])
