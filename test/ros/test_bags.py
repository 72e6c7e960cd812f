"""Bag tools: all three formats round-trip, replay writes a bag others can read, play publishes."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mcap_ros2.reader import read_ros2_messages
from sensor_msgs.msg import Image

from la_pose_core.data import KittiSequence
from la_pose_core.geometry import BASE_FROM_OPTICAL, inverse
from la_pose_core.model.config import OutputRateConfig
from la_pose_ros.bags.from_sequence import DEFAULT_TIME_OFFSET_S, sequence_to_bag
from la_pose_ros.bags.reader import BadBag, choose_topic, iter_images, open_bag, read_poses
from la_pose_ros.bags.replay import replay_bag
from test.ros.harness import Client, free_domain_id, write_test_checkpoint

FRAMES = 12
LA_POSE = str(Path(sys.executable).parent / "la-pose")


@pytest.fixture(scope="module")
def sequence(kitti_sample):
    return KittiSequence(kitti_sample)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_test_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize(
    ("format", "name"), [("mcap", "bag"), ("sqlite3", "bag"), ("ros1", "x.bag")]
)
def test_from_sequence_round_trips_in_every_format(
    kitti_sample, sequence, tmp_path, format, name, compressed
):
    out = tmp_path / name
    assert sequence_to_bag(kitti_sample, out, format, compressed, max_frames=FRAMES) == FRAMES
    with open_bag(out) as reader:
        topic = choose_topic(
            reader, None, ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"), "image"
        )
        assert topic == "/camera/image_raw" + ("/compressed" if compressed else "")
        frames = list(iter_images(reader, topic))
        assert len(frames) == FRAMES
        for index, frame in enumerate(frames):
            assert frame.error is None
            np.testing.assert_array_equal(frame.image, sequence.image(index))  # lossless
            stamp = frame.message.header.stamp  # times.txt plus the default epoch offset, exact
            expected_ns = round(sequence.stamps[index] * 1e9) + round(DEFAULT_TIME_OFFSET_S * 1e9)
            assert stamp.sec * 10**9 + stamp.nanosec == expected_ns
            assert frame.stamp - DEFAULT_TIME_OFFSET_S == pytest.approx(
                sequence.stamps[index], abs=1e-6
            )  # float64 seconds near 1.7e9 resolve ~0.2 us
            assert frame.message.header.frame_id == "camera_optical"
        stamps, world_from_base = read_poses(reader, "/ground_truth/odometry")
        offset_free = stamps - DEFAULT_TIME_OFFSET_S
        np.testing.assert_allclose(offset_free, sequence.stamps[:FRAMES], atol=1e-6)
        expected = BASE_FROM_OPTICAL @ sequence.world_from_cam[:FRAMES] @ inverse(BASE_FROM_OPTICAL)
        np.testing.assert_allclose(world_from_base, expected, atol=1e-9)
        info = next(
            reader.deserialize(raw, c.msgtype)
            for c, _, raw in reader.messages()
            if c.topic == "/camera/camera_info"
        )
        assert info.k[0] == pytest.approx(sequence.intrinsics.fx) and info.width == 1241


def test_missing_and_truncated_bags_are_reported(kitti_sample, tmp_path):
    with pytest.raises(BadBag, match="no such bag"), open_bag(tmp_path / "nothing"):
        pass
    sequence_to_bag(kitti_sample, tmp_path / "x.bag", "ros1", max_frames=3)
    data = (tmp_path / "x.bag").read_bytes()
    (tmp_path / "cut.bag").write_bytes(data[: len(data) // 3])
    with pytest.raises(BadBag, match="cannot open"), open_bag(tmp_path / "cut.bag"):
        pass


@pytest.fixture(scope="module")
def replayed(kitti_sample, checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("replay")
    sequence_to_bag(kitti_sample, folder / "input.bag", "ros1", max_frames=40)
    summary = replay_bag(
        folder / "input.bag", checkpoint, folder / "output", gt_topic="/ground_truth/odometry"
    )
    return folder, summary


def test_replay_processes_every_image_and_reports(replayed):
    folder, summary = replayed
    assert summary["images"] == 40 and summary["rejected"] == {}
    assert 7 <= summary["used"] <= 10  # 4 s of 10 Hz images; the tiny config streams at 2 fps
    metrics = json.loads((folder / "output_report/metrics.json").read_text())
    assert set(metrics["methods"]) == {"LA-Pose (replay)", "constant_velocity_gt_first_pair"}
    for method in metrics["methods"].values():
        assert set(method) >= {"auc5", "ate_s", "ate_m", "rpe_trans_pct", "yaw_corr", "step_corr"}
    assert metrics["methods"]["LA-Pose (replay)"]["clip_len"] == 16
    assert (folder / "output_report/trajectory.png").stat().st_size > 10_000


def test_replay_output_opens_with_rosbags_with_the_right_types_and_stamps(replayed):
    folder, _ = replayed
    with open_bag(folder / "output") as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        assert types["/la_pose/odometry"] == "nav_msgs/msg/Odometry"
        assert types["/la_pose/relative_pose"] == "la_pose_msgs/msg/RelativePose"
        assert types["/la_pose/latent_action"] == "la_pose_msgs/msg/LatentAction"
        assert types["/camera/image_raw"] == "sensor_msgs/msg/Image"  # the input, copied
        image_stamps, odometry_stamps = set(), []
        for connection, bag_ns, raw in reader.messages():
            message = reader.deserialize(raw, connection.msgtype)
            if connection.topic == "/camera/image_raw":
                image_stamps.add(message.header.stamp.sec * 10**9 + message.header.stamp.nanosec)
            elif connection.topic == "/la_pose/odometry":
                stamp_ns = message.header.stamp.sec * 10**9 + message.header.stamp.nanosec
                odometry_stamps.append(stamp_ns)
                assert bag_ns == stamp_ns  # written at its image's time
        assert odometry_stamps and set(odometry_stamps) <= image_stamps


def test_replay_output_opens_with_the_mcap_reader(replayed):
    folder, _ = replayed
    (mcap_file,) = (folder / "output").glob("*.mcap")
    seen = {}
    with open(mcap_file, "rb") as stream:
        for item in read_ros2_messages(stream):
            seen.setdefault(item.channel.topic, item.ros_msg)
    relative = seen["/la_pose/relative_pose"]
    assert len(seen["/la_pose/latent_action"].bottleneck) == 50
    assert np.isfinite(relative.metric_scale) and relative.header.frame_id == "camera_optical"
    assert seen["/la_pose/odometry"].child_frame_id == "base_link"


def test_replay_with_camera_rate_output_gives_every_frame_after_the_warm_up(
    kitti_sample, checkpoint, tmp_path
):
    sequence_to_bag(kitti_sample, tmp_path / "input.bag", "ros1", max_frames=30)
    summary = replay_bag(
        tmp_path / "input.bag",
        checkpoint,
        tmp_path / "output",
        gt_topic="/ground_truth/odometry",
        output_rate=OutputRateConfig(mode="camera"),
    )
    # ~10 Hz images, 2 fps model: the first frame, then every frame from 0.5 s (the fifth) on
    assert summary["output_rate"] == "camera" and summary["used"] == 1 + 25
    assert summary["metrics"]["num_frames"] == 26
    with open_bag(tmp_path / "output") as reader:
        images, odometry, relative = [], [], []
        topics = ("/camera/image_raw", "/la_pose/odometry", "/la_pose/relative_pose")
        for connection, _bag_ns, raw in reader.messages():
            if connection.topic not in topics:
                continue
            message = reader.deserialize(raw, connection.msgtype)
            stamp_ns = message.header.stamp.sec * 10**9 + message.header.stamp.nanosec
            if connection.topic == "/camera/image_raw":
                images.append(stamp_ns)
            elif connection.topic == "/la_pose/odometry":
                odometry.append(stamp_ns)
            elif connection.topic == "/la_pose/relative_pose":
                previous = message.previous_stamp.sec * 10**9 + message.previous_stamp.nanosec
                relative.append((previous, stamp_ns))
    images.sort()
    assert sorted(odometry) == [images[0], *images[5:]]
    assert relative and all(images.index(now) - images.index(then) == 5 for then, now in relative)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LA_POSE, "bag", *args], capture_output=True, text=True, timeout=300)


def test_cli_from_sequence_and_replay_and_errors(kitti_sample, checkpoint, tmp_path):
    made = run("from-sequence", str(kitti_sample), "--out", str(tmp_path / "in"), "--compressed")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["frames"] == 91
    replay = run(
        "replay",
        str(tmp_path / "in"),
        "--checkpoint",
        str(checkpoint),
        "--out",
        str(tmp_path / "out"),
    )
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["image_topic"] == "/camera/image_raw/compressed"
    missing = run(
        "replay",
        str(tmp_path / "missing"),
        "--checkpoint",
        str(checkpoint),
        "--out",
        str(tmp_path / "o2"),
    )
    assert missing.returncode == 2 and "no such bag" in missing.stderr


def test_play_publishes_the_bag_at_recorded_timing(kitti_sample, tmp_path):
    sequence_to_bag(kitti_sample, tmp_path / "in", "mcap", max_frames=20)
    domain_id = free_domain_id()
    client = Client(domain_id)
    images = []
    client.node.create_subscription(Image, "/camera/image_raw", images.append, 50)
    try:
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id))
        started = time.perf_counter()
        result = subprocess.run(
            [
                LA_POSE,
                "bag",
                "play",
                str(tmp_path / "in"),
                "--rate",
                "2",
                "--topics",
                "/camera/image_raw",
                "--wait-for-subscribers",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        elapsed = time.perf_counter() - started
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["published"] == 20
        stamps = lambda: [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in images]  # noqa: E731
        assert client.wait_for(lambda: len(images) == 20, 10), (stamps(), result.stderr[-2000:])
        assert stamps() == sorted(stamps())
        assert elapsed > 19 * 0.1 / 2  # 1.9 s of bag at twice the speed
    finally:
        client.close()


def test_replay_on_onnxruntime_writes_the_torch_replays_trajectory(kitti_sample, tmp_path):
    from test.ros.test_node_onnx import exported_checkpoint

    checkpoint = exported_checkpoint(tmp_path)
    sequence_to_bag(kitti_sample, tmp_path / "input.bag", "ros1", max_frames=30)
    trajectories = {}
    for runtime in ("torch", "onnxruntime"):
        out = tmp_path / f"output_{runtime}"
        summary = replay_bag(tmp_path / "input.bag", checkpoint, out, runtime=runtime)
        assert summary["runtime"] == runtime and summary["used"] >= 5
        with open_bag(out) as reader:
            trajectories[runtime] = [
                reader.deserialize(raw, c.msgtype).pose.pose.position
                for c, _, raw in reader.messages()
                if c.topic == "/la_pose/odometry"
            ]
    torch_xyz, onnx_xyz = (
        np.array([(p.x, p.y, p.z) for p in trajectories[r]]) for r in ("torch", "onnxruntime")
    )
    assert torch_xyz.shape == onnx_xyz.shape and np.abs(torch_xyz).max() > 0
    np.testing.assert_allclose(onnx_xyz, torch_xyz, atol=1e-4)


def test_replay_on_onnxruntime_without_an_export_is_one_line(kitti_sample, checkpoint, tmp_path):
    sequence_to_bag(kitti_sample, tmp_path / "input.bag", "ros1", max_frames=3)
    result = run(
        "replay", str(tmp_path / "input.bag"), "--checkpoint", str(checkpoint),
        "--out", str(tmp_path / "out"), "--runtime", "onnxruntime",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "onnx" in result.stderr.lower()
