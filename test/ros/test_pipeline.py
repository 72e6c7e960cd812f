"""The node's per-image pipeline, without ROS I/O: exact stamps and the messages it builds."""

import numpy as np
import pytest
from builtin_interfaces.msg import Time

from la_pose_core.data import KittiSequence
from la_pose_core.geometry import base_motion_from_camera_motion
from la_pose_core.inference.camera_rate import CameraRateEstimator
from la_pose_core.inference.estimator import PoseEstimator
from la_pose_core.model.config import OutputRateConfig, RefinementConfig, StreamingConfig
from la_pose_ros.image_decoding import BadImage
from la_pose_ros.messages import image_message, seconds_to_time
from la_pose_ros.pipeline import BadStamp, ConfigurationError, OdometryPipeline, load_estimator
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


def stamped(image: np.ndarray, seconds: float):
    return image_message(image, seconds_to_time(seconds), "camera")


@pytest.fixture
def pipeline(tmp_path):
    estimator = PoseEstimator.from_checkpoint(str(write_test_checkpoint(tmp_path / "t.pt")), "cpu")
    return OdometryPipeline(estimator, NodeSettings())  # 2 fps


def test_a_lone_outlier_stamp_is_rejected_and_odometry_goes_on(kitti_sample, pipeline):
    sequence = KittiSequence(kitti_sample)
    frames = [sequence.image(i) for i in range(8)]
    for index in range(4):
        assert pipeline.process(stamped(frames[index], 100.0 + 0.5 * index)) is not None
    for outlier in (101.5 + 1e6, 0.0):
        with pytest.raises(BadStamp, match="off the track's timeline") as raised:
            pipeline.process(stamped(frames[4], outlier))
        assert isinstance(raised.value, BadImage) and "\n" not in str(raised.value)
    output = pipeline.process(stamped(frames[4], 102.0))
    assert output.result.previous_stamp == 101.5  # the track went on
    assert len(output.messages["path"].poses) == 5 and "relative_pose" in output.messages
    # a timeline that persists restarts tracking (and odometry: it went backwards) on its
    # third frame
    for stamp in (10.0, 10.5):
        with pytest.raises(BadStamp):
            pipeline.process(stamped(frames[5], stamp))
    output = pipeline.process(stamped(frames[6], 11.0))
    assert output.result.state == "reset" and output.estimate.started_over
    assert len(output.messages["path"].poses) == 1


def test_a_reset_or_a_restarted_track_accepts_a_new_image_size(kitti_sample, pipeline):
    sequence = KittiSequence(kitti_sample)
    big = [sequence.image(i) for i in range(4)]
    small = [image[:200, :600].copy() for image in big]
    assert pipeline.process(stamped(big[0], 10.0)) is not None
    with pytest.raises(BadImage, match="the stream is"):  # mid-track: refused
        pipeline.process(stamped(small[1], 10.5))
    assert pipeline.process(stamped(big[1], 10.5)) is not None
    pipeline.reset()
    assert pipeline.process(stamped(small[2], 11.0)) is not None  # after a reset: the new size
    assert pipeline.process(stamped(small[3], 11.5)) is not None
    with pytest.raises(BadImage, match="the stream is 600x200"):
        pipeline.process(stamped(big[2], 12.0))
    # a restarted track (after a gap: the third frame of the new timeline) takes the new size
    for stamp in (30.0, 30.5):
        with pytest.raises(BadStamp):
            pipeline.process(stamped(big[2], stamp))
    output = pipeline.process(stamped(big[3], 31.0))
    assert output is not None and output.result.state == "reset"
    assert pipeline.stream_size == big[3].shape[:2]


def test_camera_rate_pipeline_publishes_every_frame_after_the_warm_up(kitti_sample, tmp_path):
    """output_rate.mode camera: one output per 10 Hz frame from 0.5 s on, each pair spanning
    the model interval (its earlier frame's exact stamp), odometry from the chained pose."""
    sequence = KittiSequence(kitti_sample)
    estimator = PoseEstimator.from_checkpoint(str(write_test_checkpoint(tmp_path / "t.pt")), "cpu")
    settings = NodeSettings(output_rate=OutputRateConfig(mode="camera"))
    pipeline = OdometryPipeline(estimator, settings)
    assert isinstance(pipeline.estimator, CameraRateEstimator)
    inputs, outputs = [], {}
    for index in range(20):
        total_ns = 1_763_770_000_123_456_789 + index * 100_000_001
        stamp = Time(sec=total_ns // 10**9, nanosec=total_ns % 10**9)
        inputs.append((stamp.sec, stamp.nanosec))
        output = pipeline.process(image_message(sequence.image(index), stamp, "camera"))
        if output is not None:
            outputs[index] = output
    assert sorted(outputs) == [0, *range(5, 20)]
    for index, output in outputs.items():
        odometry = output.messages["odometry"]
        assert (odometry.header.stamp.sec, odometry.header.stamp.nanosec) == inputs[index]
        expected = base_motion_from_camera_motion(
            output.result.world_from_cam, pipeline.base_from_camera
        )
        np.testing.assert_allclose(output.estimate.odom_from_base, expected, atol=1e-9)
        if index == 0:
            assert "relative_pose" not in output.messages
            continue
        relative = output.messages["relative_pose"]
        previous = (relative.previous_stamp.sec, relative.previous_stamp.nanosec)
        assert previous == inputs[index - 5]  # the pair spans the model interval
        assert output.messages["latent_action"].frame_rate == pytest.approx(1.0 / 0.500000005)
    assert len(outputs[19].messages["path"].poses) == 16
    pipeline.reset()
    assert pipeline.process(image_message(sequence.image(0), Time(sec=5), "camera")) is not None


def test_revised_odometry_is_the_final_pairs_chained_and_the_live_odometry_stays(
    kitti_sample, tmp_path
):
    """streaming.fixed_lag revises pairs: each frame comes once on odometry_revised, with its
    pair's last estimate, the last ones at finish(); the live odometry keeps each pair as first
    reported (the same with lag 0 and 2), and lag 0 gives no revised odometry."""
    from la_pose_core.geometry import chain_relative_poses
    from la_pose_core.inference.estimator import keep_latest_motions

    sequence = KittiSequence(kitti_sample)
    checkpoint = str(write_test_checkpoint(tmp_path / "t.pt"))
    assert NodeSettings().streaming.fixed_lag == 3
    published, revised, revised_stamps, latest = {}, [], [], []
    for lag in (0, 2):
        settings = NodeSettings(streaming=StreamingConfig(fixed_lag=lag))
        estimator = PoseEstimator.from_checkpoint(checkpoint, "cpu", streaming=settings.streaming)
        pipeline = OdometryPipeline(estimator, settings)
        assert pipeline.revises == (lag > 0)
        outputs = [pipeline.process(stamped(sequence.image(i), 0.1 * i)) for i in range(0, 50, 5)]
        published[lag] = np.stack([output.estimate.odom_from_base for output in outputs])
        if lag == 0:
            assert all("odometry_revised" not in output.messages for output in outputs)
            assert pipeline.finish() == ((), [])
            continue
        for index, output in enumerate(outputs):
            keep_latest_motions(latest, output.result)
            made_final = output.messages["odometry_revised"]
            expected_count = 1 if index == 0 or index > lag else 0  # (the first: no motion)
            assert len(made_final) == len(output.revised) == expected_count
            revised += output.revised
            revised_stamps += [message.header.stamp for message in made_final]
        rest, messages = pipeline.finish()
        assert len(rest) == len(messages) == lag
        revised += rest
        revised_stamps += [message.header.stamp for message in messages]
    np.testing.assert_allclose(published[2], published[0], atol=1e-12)
    assert [estimate.stamp for estimate in revised] == pytest.approx([0.5 * i for i in range(10)])
    assert revised_stamps == [seconds_to_time(0.5 * i) for i in range(10)]
    cameras = chain_relative_poses(np.stack(latest))  # (10, 4, 4) each pair's last estimate
    base_from_camera = NodeSettings().camera_extrinsics.matrix()
    expected = np.stack([base_motion_from_camera_motion(c, base_from_camera) for c in cameras])
    np.testing.assert_allclose(np.stack([e.odom_from_base for e in revised]), expected, atol=1e-9)
    assert not np.allclose(expected, published[2], atol=1e-6)  # revised: not the live chain


def test_the_camera_info_gives_every_stream_the_model_input_fov(kitti_sample, tmp_path):
    """A valid CameraInfo tells the estimator (and each camera-rate stream, forked before or
    after) the vertical FoV of the model input; an invalid one or none makes it unknown."""
    from sensor_msgs.msg import CameraInfo

    from la_pose_core.geometry import input_vertical_fov

    sequence = KittiSequence(kitti_sample)
    estimator = PoseEstimator.from_checkpoint(str(write_test_checkpoint(tmp_path / "t.pt")), "cpu")
    settings = NodeSettings(output_rate=OutputRateConfig(mode="camera"))
    pipeline = OdometryPipeline(estimator, settings)
    for index in range(3):
        pipeline.process(stamped(sequence.image(index), 100.0 + 0.1 * index))
    info = CameraInfo(width=1241, height=376)
    info.k = [718.856, 0.0, 620.5, 0.0, 718.856, 188.0, 0.0, 0.0, 1.0]
    pipeline.set_camera_info(info)
    config = estimator.config
    expected = input_vertical_fov(718.856, 376, 1241, config.image_height, config.image_width)
    for index in range(3, 12):
        pipeline.process(stamped(sequence.image(index), 100.0 + 0.1 * index))
    streams = pipeline.estimator.streams
    assert len(streams) > 1
    assert all(s.camera_fov == pytest.approx(expected) for s in [*streams, pipeline.estimator])
    info.k[4] = float("nan")
    pipeline.set_camera_info(info)
    assert all(s.camera_fov is None for s in streams)
    pipeline.set_camera_info(None)
    assert pipeline.estimator.camera_fov is None
