"""Integration tests: the real node in its own process, fed the real KITTI frames over ROS 2.

Each module-scoped node runs in an isolated ROS_DOMAIN_ID with config/la_pose.yaml plus a
checkpoint override (an untrained tiny model: the tests check the plumbing, stamps, frames and
robustness, not accuracy).
"""

import array
import time

import numpy as np
import pytest
from lifecycle_msgs.msg import Transition
from sensor_msgs.msg import CameraInfo, Image

from la_pose_core.data import KittiSequence
from la_pose_ros import messages
from la_pose_ros.settings import NodeSettings
from test.ros.harness import (
    Client,
    NodeProcess,
    compressed_message,
    free_domain_id,
    image_message,
    stamp_seconds,
    write_test_checkpoint,
)

TARGET_FPS = 5.0  # every other KITTI frame (10 Hz) is used
FRAME_PERIOD_S = 0.1


class Feeder:
    """Publishes KITTI frames with strictly increasing stamps (unless told otherwise), in
    lock-step with the node, so that a run on a loaded machine sees what a quiet one does.

    :meth:`send` publishes one frame, waits until the node's subscriber acknowledged it, then
    until the node's /diagnostics say it has handled it: their stamp is the newest input's and
    no frame is in flight. So the node receives every frame, one at a time (nothing is
    overwritten in its mailbox), and ``counters`` afterwards say exactly what it did with them.
    """

    def __init__(self, client: Client, sequence: KittiSequence, compressed: bool = False):
        self.client = client
        self.images = [sequence.image(i) for i in range(20)]
        self.compressed = compressed
        self.next_stamp = 1000.0
        self.index = 0
        self.sent: list[float] = []  # every stamp published, heard by the node or not
        self.counters: dict[str, int] = {}  # the node's counters once the last frame was handled

    def message(self, stamp_s: float):
        image = self.images[self.index % len(self.images)]
        self.index += 1
        make = compressed_message if self.compressed else image_message
        return make(image, stamp_s)

    def take_stamp(self) -> float:
        stamp_s = self.next_stamp
        self.next_stamp = round(self.next_stamp + FRAME_PERIOD_S, 6)
        return stamp_s

    def publish(self, count: int) -> list[float]:
        """``count`` good frames, each handled by the node before the next is sent."""
        return [self.send(self.take_stamp()) for _ in range(count)]

    def send(self, stamp_s: float, message=None, timeout: float = 30.0) -> float:
        """Publish one frame (by default the next KITTI image) and wait until it is handled."""
        self.client.publish_confirmed(message or self.message(stamp_s))
        self.sent.append(stamp_s)
        if not self.wait_handled(stamp_s, timeout):
            raise AssertionError(f"the node did not handle the frame at {stamp_s} s in time")
        return stamp_s

    def wait_handled(self, stamp_s: float, timeout: float) -> bool:
        def handled() -> bool:
            newest_input, counters = self.client.node_report()
            if newest_input != stamp_s or counters["frames_in_flight"] != 0:
                return False
            self.counters = counters
            return True

        return self.client.wait_for(handled, timeout)

    def publish_unheard(self, count: int) -> list[float]:
        """Frames for a node that is not listening (inactive): nothing to wait for."""
        stamps = []
        for _ in range(count):
            stamps.append(self.take_stamp())
            self.client.image_pub.publish(self.message(stamps[-1]))
            time.sleep(0.08)
        self.sent += stamps
        return stamps

    def prime(self) -> None:
        """Send frames until one is handled and an output arrived (discovery done both ways),
        then forget what was received. A frame sent before the node's new subscription was
        discovered is lost: that is why this one retries."""
        assert self.client.wait_for_subscriber(60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stamp_s = self.take_stamp()
            self.client.publish_confirmed(self.message(stamp_s))
            self.sent.append(stamp_s)
            if self.wait_handled(stamp_s, 2.0) and self.client.messages("odometry"):
                self.client.clear()
                return
        raise AssertionError("the node never answered")


stamp = stamp_seconds  # builtin_interfaces/Time -> seconds


def changes(feeder: Feeder, before: dict[str, int]) -> dict[str, int]:
    """What the node's counters did since ``before`` (a copy of ``feeder.counters``)."""
    return {key: value - before.get(key, 0) for key, value in feeder.counters.items()}


def of_frames(messages: list, stamps: set[float], stamp_of=lambda m: stamp(m.header.stamp)):
    """The messages computed from the frames stamped ``stamps``."""
    return [message for message in messages if stamp_of(message) in stamps]


def tf_stamp(message) -> float:
    return stamp(message.transforms[0].header.stamp)


def current_stamp(message) -> float:
    return stamp(message.current_stamp)


def last_pose_stamp(message) -> float:
    return stamp(message.poses[-1].header.stamp)


def diagnostics_values(client: Client) -> dict[str, str]:
    last = client.messages("diagnostics")[-1]
    return {item.key: item.value for item in last.status[0].values}


def start(tmp_path_factory, compressed: bool, output_rate: str = "model"):
    folder = tmp_path_factory.mktemp("node")
    checkpoint = write_test_checkpoint(folder / "tiny.pt")
    domain_id = free_domain_id()
    overrides = {
        "output_rate.mode": output_rate,
        "model.checkpoint": checkpoint,
        "model.device": "cpu",
        "streaming.target_fps": TARGET_FPS,
        "input.compressed": compressed,
        "frames.camera_frame": "camera_optical",
        "output.diagnostics_period_s": 0.05,  # the feeder's lock-step waits on diagnostics
        # reliable, so that the feeder can wait for every frame's acknowledgement (the product
        # default, best effort, is what a camera driver offers)
        "input.qos_reliability": "reliable",
    }
    node = NodeProcess(domain_id, overrides, folder / "node.log")
    client = Client(domain_id, compressed=compressed)
    assert client.wait_for_subscriber(60), node.output()
    return node, client


@pytest.fixture(scope="module")
def sequence(kitti_sample):
    return KittiSequence(kitti_sample)


@pytest.fixture(scope="module")
def raw_node(tmp_path_factory, sequence):
    node, client = start(tmp_path_factory, compressed=False)
    feeder = Feeder(client, sequence)
    feeder.prime()
    yield node, client, feeder
    client.close()
    assert node.stop() == 0, node.output()


@pytest.fixture(scope="module")
def compressed_node(tmp_path_factory, sequence):
    node, client = start(tmp_path_factory, compressed=True)
    feeder = Feeder(client, sequence, compressed=True)
    feeder.prime()
    yield node, client, feeder
    client.close()
    assert node.stop() == 0, node.output()


@pytest.fixture(scope="module")
def camera_rate_node(tmp_path_factory, sequence):
    node, client = start(tmp_path_factory, compressed=False, output_rate="camera")
    feeder = Feeder(client, sequence)
    feeder.prime()
    yield node, client, feeder
    client.close()
    assert node.stop() == 0, node.output()


def assert_outputs_follow_inputs(
    client: Client,
    feeder: Feeder,
    sent: list[float],
    before: dict[str, int],
    min_used: int,
    revises: bool = True,
) -> None:
    """Every frame the node used in this test gave every output, stamped with its input stamp,
    in the right frames, and nothing else came.

    ``sent``: stamps of the images of this test; ``before``: the node's counters when it began;
    ``revises``: the node publishes revised odometry (model rate) or none (camera rate).
    Outputs of earlier frames may still arrive: they are checked to carry input stamps too,
    and otherwise left out of the counts.
    """
    counts = changes(feeder, before)
    used, pairs = counts["frames_used"], counts["frames_used"] - counts["resets"]
    # the revised odometry lags the node's streaming.fixed_lag (3) frames: the last ones of this
    # test come with later frames (or at deactivate)
    revised_at_least = used - NodeSettings().streaming.fixed_lag if revises else 0
    assert used >= min_used and counts["frames_dropped"] == 0, counts
    this_test, every_input = set(sent), set(feeder.sent)

    def arrived() -> bool:
        odometry = of_frames(client.messages("odometry"), this_test)
        paths = of_frames(client.messages("path"), this_test, last_pose_stamp)
        return (
            len(odometry) >= used
            and len(of_frames(client.messages("tf"), this_test, tf_stamp)) >= used
            and len(of_frames(client.messages("relative_pose"), this_test, current_stamp)) >= pairs
            and len(of_frames(client.messages("latent_action"), this_test, current_stamp)) >= pairs
            and bool(paths)
            and last_pose_stamp(paths[-1]) == stamp(odometry[-1].header.stamp)
            and len(of_frames(client.messages("odometry_revised"), this_test)) >= revised_at_least
        )

    received = lambda: {key: len(value) for key, value in client.received.items()}  # noqa: E731
    assert client.wait_for(arrived, 30), (counts, received())
    time.sleep(0.3)  # anything extra (a duplicate) would come now

    odometry = client.messages("odometry")
    assert {stamp(m.header.stamp) for m in odometry} <= every_input
    odometry = of_frames(odometry, this_test)
    assert len(odometry) == len({stamp(m.header.stamp) for m in odometry}) == used
    for message in odometry:
        assert (message.header.frame_id, message.child_frame_id) == ("odom", "base_link")
        values = [
            message.pose.pose.position.x,
            message.pose.pose.position.y,
            message.pose.pose.position.z,
        ]
        values += [message.twist.twist.linear.x, message.twist.twist.angular.z]
        assert np.all(np.isfinite(values))
        for covariance in (message.pose.covariance, message.twist.covariance):
            assert np.all(np.isfinite(covariance)) and np.max(covariance) < 1e9
            assert np.all(np.diag(np.reshape(covariance, (6, 6))) >= 0.0)
        q = message.pose.pose.orientation
        assert np.linalg.norm([q.x, q.y, q.z, q.w]) == pytest.approx(1.0, abs=1e-6)

    revised = client.messages("odometry_revised")  # each used frame once, its pair final
    assert revises or revised == []
    assert {stamp(m.header.stamp) for m in revised} <= every_input
    revised = of_frames(revised, this_test)
    assert len(revised) == len({stamp(m.header.stamp) for m in revised}) <= used
    assert {stamp(m.header.stamp) for m in revised} <= {stamp(m.header.stamp) for m in odometry}
    assert all((m.header.frame_id, m.child_frame_id) == ("odom", "base_link") for m in revised)

    transforms = [t for m in client.messages("tf") for t in m.transforms]
    assert {stamp(t.header.stamp) for t in transforms} <= every_input
    transforms = of_frames(transforms, this_test)
    assert sorted(stamp(t.header.stamp) for t in transforms) == sorted(
        stamp(m.header.stamp) for m in odometry
    )
    assert {(t.header.frame_id, t.child_frame_id) for t in transforms} == {("odom", "base_link")}

    # /tf_static is latched (transient local): DDS may hand its one message over again when the
    # subscription re-matches on a starved machine (seen once in five stress runs), so every
    # message received must be that one transform, however many there are
    static = [t for m in client.messages("tf_static") for t in m.transforms]
    assert {(t.header.frame_id, t.child_frame_id) for t in static} == {
        ("base_link", "camera_optical")
    }
    assert len({(t.transform.translation.z, t.transform.rotation.w) for t in static}) == 1

    path = client.messages("path")[-1]
    assert path.header.frame_id == "odom" and len(path.poses) >= 2
    assert stamp(path.poses[-1].header.stamp) == stamp(odometry[-1].header.stamp)

    relative = client.messages("relative_pose")
    latent = client.messages("latent_action")
    assert {current_stamp(m) for m in relative + latent} <= every_input
    relative = of_frames(relative, this_test, current_stamp)
    latent = of_frames(latent, this_test, current_stamp)
    assert len(relative) == len(latent) == pairs > 0
    for message in relative:
        assert message.header.frame_id == "camera_optical"
        assert stamp(message.previous_stamp) in every_input
        assert stamp(message.previous_stamp) < stamp(message.current_stamp)
        values = [
            message.translation.x,
            message.translation.z,
            message.rotation.w,
            message.fov,
            message.metric_scale,
        ]
        assert np.all(np.isfinite(values)) and np.all(np.isfinite(message.covariance))
        assert message.metric_scale > 0.0
    for message in latent:
        assert len(message.bottleneck) == 50 and np.all(np.isfinite(message.bottleneck))
        interval = stamp(message.current_stamp) - stamp(message.previous_stamp)
        assert message.frame_rate == pytest.approx(1.0 / interval, rel=1e-4)
        assert message.frame_rate <= TARGET_FPS / (1.0 - 0.1) + 1e-3  # never faster than asked

    assert client.messages("diagnostics")


def test_image_stream_produces_every_output_with_input_stamps(raw_node):
    _node, client, feeder = raw_node
    before = dict(feeder.counters)
    sent = feeder.publish(24)
    # 10 Hz stamps, 5 fps model: exactly every other frame is used
    assert_outputs_follow_inputs(client, feeder, sent, before, min_used=12)
    counts = changes(feeder, before)
    assert counts["frames_received"] == 24 and counts["frames_skipped"] == 12, counts
    values = diagnostics_values(client)
    assert values["state"] in ("warming_up", "tracking")
    for key in (
        "input_rate_hz",
        "output_rate_hz",
        "latency_p50_ms",
        "latency_p95_ms",
        "frames_dropped",
    ):
        assert float(values[key]) >= 0.0


def bad_image(kind: str, feeder: Feeder, stamp_s: float):
    good = feeder.images[0]
    message = image_message(good, stamp_s)
    if kind == "encoding":
        message.encoding = "not_an_encoding"
    elif kind == "length":
        message.data = array.array("B", bytes(len(message.data) - 100))
    elif kind == "zero":
        message.width = message.height = message.step = 0
        message.data = array.array("B")
    elif kind == "huge":
        message = image_message(np.zeros((2000, 2000), np.uint8), stamp_s)
    elif kind == "float":  # a depth map, NaN where unknown
        depth = np.full((good.shape[0], good.shape[1]), np.nan, np.float32)
        message = Image(height=depth.shape[0], width=depth.shape[1], encoding="32FC1")
        message.header = image_message(good, stamp_s).header
        message.step = depth.strides[0]
        message.data = array.array("B", depth.tobytes())
    return message


def test_bad_input_is_logged_and_skipped_and_the_node_keeps_publishing(raw_node):
    node, client, feeder = raw_node
    feeder.publish(4)
    # a malformed frame that the frame selection skips is decided by its stamp and never
    # deserialised: skipped, not rejected
    while True:
        counted = dict(feeder.counters)
        used = feeder.send(feeder.take_stamp())
        if changes(feeder, counted)["frames_used"]:
            break
    counted, stamp_s = dict(feeder.counters), round(used + 0.01, 6)
    feeder.send(stamp_s, bad_image("length", feeder, stamp_s))
    assert (
        changes(feeder, counted)["frames_skipped"],
        changes(feeder, counted)["frames_rejected"],
    ) == (1, 0)
    client.clear()
    before = dict(feeder.counters)
    for kind in ("encoding", "length", "zero", "huge", "float"):
        feeder.take_stamp()  # 0.2 s apart: each a frame the model would use (5 fps)
        stamp_s = feeder.take_stamp()
        feeder.send(stamp_s, bad_image(kind, feeder, stamp_s))
    assert changes(feeder, before)["frames_rejected"] == 5
    # a lone stamp jumping backwards: a valid image, rejected (the track goes on)
    backwards = feeder.send(round(feeder.next_stamp - 50.0, 6))
    sent = feeder.publish(12)
    assert_outputs_follow_inputs(client, feeder, [backwards, *sent], before, min_used=6)
    counts = changes(feeder, before)
    assert counts["frames_rejected"] == 6 and counts["resets"] == 0, counts
    assert of_frames(client.messages("odometry"), {backwards}) == []
    log = node.output()
    for reason in (
        "unsupported encoding 'not_an_encoding'",
        "unsupported encoding '32FC1'",
        "data has",
        "zero-size image",
        "2000x2000",
        "off the track's timeline",
    ):
        assert reason in log, reason
    assert node.process.poll() is None  # still running


def test_a_lone_implausible_stamp_is_rejected_and_a_new_timeline_restarts_once_it_persists(
    raw_node,
):
    node, client, feeder = raw_node
    feeder.publish(6)
    client.clear()
    before = dict(feeder.counters)
    outliers = []
    for outlier in (round(feeder.next_stamp + 1e6, 6), 0.0):
        outliers.append(feeder.send(outlier))
        feeder.publish(4)
    counts = changes(feeder, before)
    assert counts["frames_rejected"] == 2 and counts["resets"] == 0, counts
    assert diagnostics_values(client)["stamps_rejected"] != "0"
    assert of_frames(client.messages("odometry"), set(outliers)) == []
    assert of_frames(client.messages("tf"), set(outliers), tf_stamp) == []
    # the path went on: it holds poses from before the outliers, and none of theirs
    path = client.messages("path")[-1]
    assert len(path.poses) >= 7
    assert not {stamp(pose.header.stamp) for pose in path.poses} & set(outliers)
    # a new timeline (500 s back: a bag loop) restarts tracking on its third frame
    before = dict(feeder.counters)
    feeder.next_stamp = round(feeder.next_stamp - 500.0, 6)
    timeline = feeder.publish(5)
    counts = changes(feeder, before)
    assert counts["frames_rejected"] == 2 and counts["resets"] == 1, counts
    restarted = timeline[2]
    assert client.wait_for(lambda: of_frames(client.messages("odometry"), {restarted}), 20)
    first = of_frames(client.messages("odometry"), {restarted})[0]
    position = first.pose.pose.position
    assert (position.x, position.y, position.z) == (0.0, 0.0, 0.0)
    assert "tracking restarted" in node.output()


def test_last_error_clears_after_ten_good_frames_or_a_reset(raw_node):
    _node, client, feeder = raw_node
    feeder.publish(2)
    for clear in ("good frames", "reset"):
        feeder.take_stamp()  # 0.2 s after the last frame: one the model would use
        stamp_s = feeder.take_stamp()
        feeder.send(stamp_s, bad_image("encoding", feeder, stamp_s))
        assert diagnostics_values(client)["last_error"].startswith("unsupported encoding")
        feeder.publish(9)
        assert diagnostics_values(client)["last_error"] != ""
        if clear == "good frames":
            feeder.publish(1)
            assert diagnostics_values(client)["last_error"] == ""
        else:
            assert client.trigger("/la_pose/reset").success
            assert client.wait_for(lambda: client.diagnostics_values()["last_error"] == "", 20)


def camera_info(fx: float = 718.856, fy: float = 718.856, width: int = 1241, height: int = 376):
    message = CameraInfo(width=width, height=height)
    message.k = [fx, 0.0, width / 2.0, 0.0, fy, height / 2.0, 0.0, 0.0, 1.0]
    return message


def test_a_bad_camera_info_is_warned_about_once_and_shows_no_fov(raw_node):
    node, client, _feeder = raw_node

    def shows(predicate) -> bool:
        return client.wait_for(lambda: predicate(client.diagnostics_values()), 20)

    def fov_shown(values: dict) -> bool:
        return "camera_info_vertical_fov_deg" in values and "camera_info" not in values

    bad = {
        "K is not finite (NaN or infinite)": [
            camera_info(fy=float("nan")),
            camera_info(fx=float("inf")),
        ],
        "K has a zero or negative focal length": [camera_info(0.0, 0.0), camera_info(fy=0.0)],
        "the image size is zero": [camera_info(width=0), camera_info(height=0)],
    }
    for problem, messages_of_kind in bad.items():
        for message in messages_of_kind:
            client.publish_camera_info(camera_info())
            assert shows(fov_shown)
            fov = float(client.diagnostics_values()["camera_info_vertical_fov_deg"])
            assert 0.0 < fov < 180.0
            client.publish_camera_info(message)
            assert shows(lambda v, p=problem: v.get("camera_info") == f"invalid: {p}")
            assert "camera_info_vertical_fov_deg" not in client.diagnostics_values()
    log = node.output()
    assert log.count("invalid camera_info ignored") == len(bad), log  # once per kind
    for problem in bad:
        assert f"invalid camera_info ignored: {problem}" in log


def test_reset_service_restarts_odometry_at_the_identity(raw_node):
    _node, client, feeder = raw_node
    feeder.publish(10)
    response = client.trigger("/la_pose/reset")
    assert response.success, response.message
    client.clear()
    sent = set(feeder.publish(6))
    assert client.wait_for(lambda: len(of_frames(client.messages("odometry"), sent)) >= 2, 20)
    first = of_frames(client.messages("odometry"), sent)[0]
    assert stamp(first.header.stamp) == min(sent)  # the first frame after a reset is used
    position = first.pose.pose.position
    assert (position.x, position.y, position.z) == (0.0, 0.0, 0.0)
    assert client.wait_for(lambda: of_frames(client.messages("path"), sent, last_pose_stamp), 20)
    assert len(of_frames(client.messages("path"), sent, last_pose_stamp)[0].poses) == 1


def test_lifecycle_deactivate_stops_and_activate_resumes(raw_node):
    _node, client, feeder = raw_node
    assert client.lifecycle_state() == "active"
    assert client.change_state(Transition.TRANSITION_DEACTIVATE)
    assert client.lifecycle_state() == "inactive"
    client.clear()
    # /diagnostics keep coming, with the lifecycle state
    assert client.wait_for(lambda: client.diagnostics_values().get("state") == "inactive", 20)
    assert client.diagnostics_values()["lifecycle_state"] == "inactive"
    unheard = set(feeder.publish_unheard(6))
    time.sleep(0.5)
    assert of_frames(client.messages("odometry"), unheard) == []
    assert client.change_state(Transition.TRANSITION_ACTIVATE)
    feeder.prime()
    before = dict(feeder.counters)
    sent = set(feeder.publish(10))
    used = changes(feeder, before)["frames_used"]
    assert used == 5
    assert client.wait_for(lambda: len(of_frames(client.messages("odometry"), sent)) == used, 20)
    assert {stamp(m.header.stamp) for m in client.messages("odometry")} <= set(feeder.sent)
    assert of_frames(client.messages("odometry"), unheard) == []


def test_pause_and_resume_services(raw_node):
    _node, client, feeder = raw_node
    assert client.trigger("/la_pose/pause").success
    client.clear()
    before = dict(feeder.counters)
    paused = set(feeder.publish(5))
    assert changes(feeder, before)["frames_ignored"] == 5
    assert of_frames(client.messages("odometry"), paused) == []
    response = client.trigger("/la_pose/resume")
    assert response.success and "restarts at the identity" in response.message
    sent = set(feeder.publish(6))
    assert client.wait_for(lambda: len(of_frames(client.messages("odometry"), sent)) == 3, 20)
    assert of_frames(client.messages("odometry"), paused) == []
    first = of_frames(client.messages("odometry"), sent)[0]
    assert stamp(first.header.stamp) == min(sent)
    position = first.pose.pose.position
    assert (position.x, position.y, position.z) == (0.0, 0.0, 0.0)


def test_compressed_image_stream_produces_every_output(compressed_node):
    _node, client, feeder = compressed_node
    before = dict(feeder.counters)
    sent = feeder.publish(16)
    assert_outputs_follow_inputs(client, feeder, sent, before, min_used=8)
    # the worker handed freed memory back after published frames (model.memory_trim_period_s)
    trims = lambda: int(client.diagnostics_values().get("memory_trims", "0"))  # noqa: E731
    assert client.wait_for(lambda: trims() >= 1, 10), client.diagnostics_values()


def test_camera_rate_output_gives_odometry_for_every_camera_frame(camera_rate_node):
    """output_rate.mode camera, 10 Hz frames, model at 5 fps: two interleaved streams, one
    output per frame (after the primed first frame, the next one begins the second stream),
    each pair spanning 0.2 s."""
    _node, client, feeder = camera_rate_node
    before = dict(feeder.counters)
    sent = feeder.publish(20)
    assert_outputs_follow_inputs(client, feeder, sent, before, min_used=19, revises=False)
    counts = changes(feeder, before)
    assert counts["frames_used"] == 19 and counts["frames_skipped"] == 1, counts
    assert diagnostics_values(client)["output_rate_mode"] == "camera"
    odometry = of_frames(client.messages("odometry"), set(sent))
    assert [stamp(m.header.stamp) for m in odometry] == sent[1:]
    for message in of_frames(client.messages("relative_pose"), set(sent), current_stamp):
        interval = current_stamp(message) - stamp(message.previous_stamp)
        assert interval == pytest.approx(2 * FRAME_PERIOD_S, abs=1e-6)
    # a reset: the first frame at the identity, then the warm-up of one model interval
    assert client.trigger("/la_pose/reset").success
    client.clear()
    after = feeder.publish(6)
    assert client.wait_for(lambda: len(of_frames(client.messages("odometry"), set(after))) == 5)
    first = of_frames(client.messages("odometry"), set(after))[0]
    assert stamp(first.header.stamp) == after[0]
    position = first.pose.pose.position
    assert (position.x, position.y, position.z) == (0.0, 0.0, 0.0)


def test_a_missing_checkpoint_fails_configure_with_a_clear_error(tmp_path):
    domain_id = free_domain_id()
    node = NodeProcess(
        domain_id, {"model.checkpoint": str(tmp_path / "missing.pt")}, tmp_path / "node.log"
    )
    client = Client(domain_id)
    try:
        assert client.wait_for(lambda: "configure failed" in node.output(), 60), node.output()
        assert "missing.pt" in node.output()
        assert client.lifecycle_state() == "unconfigured"
        # /diagnostics say so (and keep coming) while the node waits
        assert client.wait_for(lambda: client.diagnostics_values().get("state") == "unconfigured")
        client.clear()
        assert client.wait_for(lambda: client.diagnostics_values().get("state") == "unconfigured")
        assert node.process.poll() is None  # waits for a lifecycle manager to retry
    finally:
        client.close()
        node.stop()


def test_the_road_step_takes_the_road_from_the_camera_extrinsics(tmp_path):
    """streaming.road_step reads the camera's height above the road from camera_extrinsics
    (base_link on the road) and says so when configured, as it says how late the revised
    odometry comes."""
    domain_id = free_domain_id()
    parameters = {
        "model.checkpoint": str(write_test_checkpoint(tmp_path / "tiny.pt")),
        "streaming.road_step": True,
        "camera_extrinsics.translation": [1.2, 0.0, 1.6],
    }
    node = NodeProcess(domain_id, parameters, tmp_path / "node.log")
    client = Client(domain_id)
    try:
        assert client.wait_for(lambda: "configured:" in node.output(), 60), node.output()
        assert "road step on (camera 1.60 m above the road)" in node.output()
        assert "revised odometry 3 frames late (1.5 s)" in node.output()  # the default lag
    finally:
        client.close()
        node.stop()


def test_seconds_to_time_round_trip():
    assert stamp(messages.seconds_to_time(1000.3)) == 1000.3
    assert messages.seconds_to_time(2.0 - 1e-10) == messages.seconds_to_time(2.0)


@pytest.mark.parametrize("shut_down_first", [True, False])
def test_an_error_from_a_shut_down_context_is_a_clean_stop_and_any_other_is_not(
    monkeypatch, shut_down_first
):
    """SIGINT shuts rclpy's context down while a callback may still publish: main returns 0
    then; the same error with the context alive is a real failure and propagates."""
    import rclpy

    from la_pose_ros import node as node_module

    def spin(executor):
        if shut_down_first:
            rclpy.try_shutdown()
        raise RuntimeError("Failed to publish: publisher's context is invalid")

    monkeypatch.setattr(node_module.SingleThreadedExecutor, "spin", spin)
    args = ["la_pose_node", "--ros-args", "-p", "autostart:=false"]
    if shut_down_first:
        assert node_module.main(args) == 0
    else:
        with pytest.raises(RuntimeError, match="context is invalid"):
            node_module.main(args)
    assert not rclpy.ok()
