"""Real time: the stamp read from the serialised bytes, frames lost before the callback counted
from publication sequence numbers, frames the model will not use never deserialised, and a
hole in the stream that restarts the model's track but not the odometry."""

import time

import numpy as np
import pytest
import rclpy
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage, Image

from la_pose_core.data import KittiSequence
from la_pose_ros import node as node_module
from la_pose_ros.delivery import SequenceGaps, serialized_stamp
from la_pose_ros.node import LaPoseNode
from test.ros.harness import (
    compressed_message,
    free_domain_id,
    image_message,
    write_test_checkpoint,
)


@pytest.fixture(scope="module")
def frames(kitti_sample):
    sequence = KittiSequence(kitti_sample)
    return [sequence.image(index) for index in range(30)]


def test_the_stamp_is_read_from_the_serialised_bytes(frames):
    for message in (
        image_message(frames[0], 1234.567891),
        compressed_message(frames[0], 0.000001),
        image_message(frames[0][:, :, None].repeat(3, axis=2), 1e9 + 0.5),
    ):
        data = serialize_message(message)
        assert serialized_stamp(data) == message.header.stamp
    assert serialized_stamp(b"\x00\x07" + bytes(20)) is None  # not plain CDR: deserialise
    assert serialized_stamp(b"\x00\x01\x00\x00") is None  # too short
    assert isinstance(Image(), Image) and isinstance(CompressedImage(), CompressedImage)


def test_sequence_gaps_count_what_never_arrived():
    gaps = SequenceGaps()
    assert [gaps.note(n) for n in (1, 2, 5, 6, 10)] == [0, 0, 2, 0, 3]
    assert gaps.note(3) == 0 and gaps.note(4) == 0  # a restarted publisher: counted from it
    assert gaps.note(None) == 0 and gaps.note(0) == 0  # the middleware gives no number
    assert gaps.lost == 5


class InProcessNode:
    """The real node in this process, fed serialised images as its subscription would."""

    def __init__(self, checkpoint, target_fps: float = 2.0) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=free_domain_id())
        overrides = {
            "model.checkpoint": str(checkpoint),
            "model.device": "cpu",
            "streaming.target_fps": target_fps,
            "autostart": False,
        }
        self.node = LaPoseNode(
            context=self.context,
            parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()],
        )
        assert self.node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert self.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        self.sequence_number = 0

    def feed(self, image: np.ndarray, stamp: float, lost_before: int = 0) -> None:
        """One frame through the image callback, after ``lost_before`` frames that were
        published but never delivered; waits until the worker has handled it."""
        self.sequence_number += lost_before + 1
        data = serialize_message(image_message(image, stamp))
        self.node.on_image(data, {"publication_sequence_number": self.sequence_number})
        stats = self.node.stats
        deadline = time.monotonic() + 30.0
        while stats.received != stats.handled:
            assert time.monotonic() < deadline, "the worker did not handle the frame"
            time.sleep(0.005)

    def close(self) -> None:
        self.node.trigger_deactivate()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture
def live_node(tmp_path):
    node = InProcessNode(write_test_checkpoint(tmp_path / "tiny.pt"))
    yield node
    node.close()


def test_frames_the_model_skips_are_never_deserialised(live_node, frames, monkeypatch):
    deserialised = []
    original = node_module.deserialize_message

    def counting(data, message_type):
        deserialised.append(serialized_stamp(data))
        return original(data, message_type)

    monkeypatch.setattr(node_module, "deserialize_message", counting)
    for index in range(30):  # 3 s at 10 Hz, the model at 2 fps
        live_node.feed(frames[index], 100.0 + 0.1 * index)
    stats = live_node.node.stats
    assert stats.used == len(deserialised) == 6  # 100.0, 100.5, ..., 102.5
    assert stats.skipped == 24 and stats.lost == 0 and stats.dropped == 0


def test_a_hole_from_lost_frames_restarts_the_track_not_the_odometry(live_node, frames):
    node = live_node.node
    for index in range(20):
        live_node.feed(frames[index], 100.0 + 0.1 * index)
    pose_before = node.pipeline.odometry.odom_from_base.copy()
    moved = np.linalg.norm(pose_before[:3, 3])
    # 2.5 s without a delivered frame, 24 of them lost before the callback
    live_node.feed(frames[20], 104.4, lost_before=24)
    stats = node.stats
    assert (stats.lost, stats.holes, stats.resets, stats.rejected) == (24, 1, 0, 0)
    assert stats.used == 5  # the first frame after the hole is used at once: a new track
    odometry = node.pipeline.odometry
    np.testing.assert_allclose(odometry.odom_from_base, pose_before)  # goes on, not at zero
    assert moved > 0.0 and odometry.pose_covariance[0, 0] >= 1e3  # the hole's motion: unknown
    for index in range(21, 27):
        live_node.feed(frames[index], round(104.4 + 0.1 * (index - 20), 6))
    assert stats.used == 6 and stats.resets == 0
    values = {item.key: item.value for item in node.diagnostics_message().status[0].values}
    assert (values["frames_lost"], values["holes"], values["resets"]) == ("24", "1", "0")


def test_a_stamp_glitch_after_lost_frames_is_still_an_outlier(live_node, frames):
    """Two lost frames cannot explain a stamp 1e6 s ahead: the track goes on."""
    for index in range(10):
        live_node.feed(frames[index], 100.0 + 0.1 * index)
    live_node.feed(frames[10], 100.9 + 1e6, lost_before=2)
    live_node.feed(frames[11], 101.0)
    stats = live_node.node.stats
    assert (stats.holes, stats.bad_stamps, stats.resets, stats.used) == (0, 1, 0, 3)


def test_a_pause_in_the_camera_is_still_a_new_timeline(live_node, frames):
    """No frame lost (the sequence numbers follow on): a gap is the camera's, and tracking
    restarts as before, after the frames that confirm the new timeline."""
    for index in range(10):
        live_node.feed(frames[index], 100.0 + 0.1 * index)
    for index in range(10, 14):
        live_node.feed(frames[index], round(105.0 + 0.1 * (index - 10), 6))
    stats = live_node.node.stats
    assert (stats.holes, stats.resets, stats.bad_stamps) == (0, 1, 2)
