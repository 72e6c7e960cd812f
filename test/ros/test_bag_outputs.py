"""Bag tools' outputs: ROS 1 names, existing outputs, topics checked first, no partial bags,
epoch stamps."""

import json
import shutil
from pathlib import Path

import pytest

from la_pose_core.cli.main import main
from la_pose_ros.bags import replay as replay_module
from la_pose_ros.bags.from_sequence import DEFAULT_TIME_OFFSET_S, sequence_to_bag
from la_pose_ros.bags.reader import BadBag, choose_topic, iter_images, open_bag
from la_pose_ros.bags.replay import replay_bag
from test.ros.harness import write_test_checkpoint

IMAGE_TOPIC = "/camera/image_raw"
GT_TOPIC = "/ground_truth/odometry"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_test_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="module")
def input_bag(kitti_sample, tmp_path_factory):
    """A short mcap bag of the KITTI sample (12 frames, ground truth)."""
    out = tmp_path_factory.mktemp("input") / "in"
    sequence_to_bag(kitti_sample, out, "mcap", max_frames=12)
    return out


def image_count(path: Path) -> int:
    with open_bag(path) as reader:
        return len(list(iter_images(reader, IMAGE_TOPIC, decode=False)))


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_a_ros1_bag_without_the_bag_suffix_gets_it(kitti_sample, tmp_path):
    assert sequence_to_bag(kitti_sample, tmp_path / "x", "ros1", max_frames=3) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bag"]
    assert image_count(tmp_path / "x.bag") == 3


def test_a_ros1_bag_is_recognised_by_its_header_whatever_its_name(kitti_sample, tmp_path):
    sequence_to_bag(kitti_sample, tmp_path / "x.bag", "ros1", max_frames=3)
    for name in ("renamed", "renamed.data", "renamed.mcap"):
        shutil.copy(tmp_path / "x.bag", tmp_path / name)
        assert image_count(tmp_path / name) == 3
    (tmp_path / "garbage").write_bytes(b"not a bag at all")
    with pytest.raises(BadBag, match="garbage: cannot open"), open_bag(tmp_path / "garbage"):
        pass


def test_cli_from_sequence_refuses_an_existing_out_unless_overwrite(kitti_sample, tmp_path, capsys):
    (tmp_path / "x.bag").write_bytes(b"an old file")
    command = ["bag", "from-sequence", str(kitti_sample), "--format", "ros1", "--out"]
    assert main([*command, str(tmp_path / "x")]) == 2
    line = one_error_line(capsys)
    assert str(tmp_path / "x.bag") in line and "--overwrite" in line
    assert (tmp_path / "x.bag").read_bytes() == b"an old file"

    assert main([*command, str(tmp_path / "x"), "--overwrite"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["bag"] == str(tmp_path / "x.bag") and printed["frames"] == 91
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bag"]  # nothing else left
    assert image_count(tmp_path / "x.bag") == 91

    (tmp_path / "folder").mkdir()
    assert main(["bag", "from-sequence", str(kitti_sample), "--out", str(tmp_path / "folder")]) == 2
    assert str(tmp_path / "folder") in one_error_line(capsys)


def test_cli_replay_refuses_an_existing_out_unless_overwrite(
    input_bag, checkpoint, tmp_path, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("old")
    command = ["bag", "replay", str(input_bag), "--checkpoint", str(checkpoint), "--out", str(out)]
    assert main(command) == 2
    line = one_error_line(capsys)
    assert str(out) in line and "--overwrite" in line
    assert (out / "old").exists()

    assert main([*command, "--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out)["output_bag"] == str(out)
    assert not (out / "old").exists()
    with open_bag(out) as reader:
        assert "/la_pose/odometry" in {c.topic for c in reader.connections}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_replay_checks_its_topics_before_it_writes_anything(
    input_bag, checkpoint, tmp_path, monkeypatch
):
    def never(*args, **kwargs):
        raise AssertionError("replayed images before checking the topics")

    with monkeypatch.context() as patch:
        patch.setattr(replay_module, "replay_images", never)
        with pytest.raises(BadBag, match="pose topic /wrong not in bag"):
            replay_bag(input_bag, checkpoint, tmp_path / "out", gt_topic="/wrong")
        with pytest.raises(BadBag, match="image topic /wrong not in bag"):
            replay_bag(input_bag, checkpoint, tmp_path / "out", image_topic="/wrong")
    assert list(tmp_path.iterdir()) == []
    summary = replay_bag(input_bag, checkpoint, tmp_path / "out", gt_topic=GT_TOPIC)
    assert summary["images"] == 12 and "metrics" in summary


def test_a_replay_that_fails_midway_leaves_no_output(input_bag, checkpoint, tmp_path, monkeypatch):
    def broken_copy(reader, bag):
        bag.write_cdr("/x", "std_msgs/msg/Empty", b"\x00\x01\x00\x00", 1)  # something written
        raise RuntimeError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(replay_module, "copy_input", broken_copy)
        with pytest.raises(RuntimeError, match="disk on fire"):
            replay_bag(input_bag, checkpoint, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
    assert replay_bag(input_bag, checkpoint, tmp_path / "out")["images"] == 12


def test_from_sequence_stamps_default_to_a_realistic_epoch(kitti_sample, tmp_path):
    assert 1.5e9 < DEFAULT_TIME_OFFSET_S < 2.1e9  # 2017-2036: valid for tf2, Foxglove
    sequence_to_bag(kitti_sample, tmp_path / "default", "mcap", max_frames=2)
    sequence_to_bag(kitti_sample, tmp_path / "zero", "mcap", max_frames=2, time_offset_s=0.0)

    def stamps_ns(path):
        with open_bag(path) as reader:
            topic = choose_topic(reader, None, ("sensor_msgs/msg/Image",), "image")
            return [
                m.message.header.stamp.sec * 10**9 + m.message.header.stamp.nanosec
                for m in iter_images(reader, topic, decode=False)
            ]

    offset_ns = round(DEFAULT_TIME_OFFSET_S * 1e9)
    assert stamps_ns(tmp_path / "default") == [s + offset_ns for s in stamps_ns(tmp_path / "zero")]


def test_from_sequence_help_names_the_default_offset(capsys):
    with pytest.raises(SystemExit):
        main(["bag", "from-sequence", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"default {DEFAULT_TIME_OFFSET_S:.0f}" in help_text and "--overwrite" in help_text
