"""The node's per-image pipeline, without ROS I/O: exact stamps and the messages it builds."""

import numpy as np
import pytest
from builtin_interfaces.msg import Time

from la_pose_core.data import KittiSequence
from la_pose_core.inference.estimator import PoseEstimator
from la_pose_core.pose_autoencoder.refinement import RefinementConfig
from la_pose_ros.messages import image_message
from la_pose_ros.pipeline import ConfigurationError, OdometryPipeline, load_estimator
from la_pose_ros.settings import ModelSettings, NodeSettings
from test.core.bad_checkpoints import write_bad_checkpoints
from test.ros.harness import write_test_checkpoint


def test_outputs_copy_epoch_stamps_exactly(kitti_sample, tmp_path):
    """Real stamps (~1.7e9 s) do not survive a float round trip to the nanosecond: outputs
    must copy the input's stamp, or exact-time consumers (tf2, message_filters) break."""
    sequence = KittiSequence(kitti_sample)
    estimator = PoseEstimator.from_checkpoint(str(write_test_checkpoint(tmp_path / "t.pt")), "cpu")
    pipeline = OdometryPipeline(estimator, NodeSettings())

    def exact(time) -> tuple[int, int]:
        return time.sec, time.nanosec

    inputs, used = [], 0
    for index in range(16):
        total_ns = 1_763_770_000_123_456_789 + index * 100_000_001
        stamp = Time(sec=total_ns // 10**9, nanosec=total_ns % 10**9)
        output = pipeline.process(image_message(sequence.image(index), stamp, "camera"))
        inputs.append((stamp.sec, stamp.nanosec))
        if output is None:
            continue
        used += 1
        stamps = [exact(output.messages["odometry"].header.stamp)]
        stamps += [exact(t.header.stamp) for t in output.messages["tf"].transforms]
        stamps.append(exact(output.messages["path"].poses[-1].header.stamp))
        assert all(s in inputs for s in stamps) and len(set(stamps)) == 1
        assert stamps[0] == inputs[-1]
        if "relative_pose" in output.messages:
            relative = output.messages["relative_pose"]
            assert exact(relative.current_stamp) == stamps[0]
            assert exact(relative.previous_stamp) in inputs[:-1]
            assert np.isfinite(relative.metric_scale)
    assert used >= 3


def test_a_file_that_is_not_a_checkpoint_is_one_configuration_error(tmp_path):
    good = write_test_checkpoint(tmp_path / "good.pt")
    for bad, reason in write_bad_checkpoints(tmp_path / "bad", good).items():
        with pytest.raises(ConfigurationError) as raised:
            load_estimator(ModelSettings(checkpoint=str(bad)), RefinementConfig())
        message = str(raised.value)
        expected = f"{bad} is not an LA-Pose checkpoint: {reason}"
        assert message.startswith(expected) and "\n" not in message, message
