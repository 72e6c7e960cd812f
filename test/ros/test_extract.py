"""``la-pose bag extract``: clips from bags of every format, filtering, failures, manifest."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time

from la_pose_core.data import KittiSequence
from la_pose_core.data.shards import ClipShardDataset, read_shard_metadata
from la_pose_core.geometry import adjacent_relative_poses
from la_pose_core.paper import PAPER_CLIP_LEN, PAPER_FPS_RANGE, PAPER_FRAME_SIZE
from la_pose_ros.bags.extract import ExtractOptions, extract_bag, extract_bags
from la_pose_ros.bags.from_sequence import DEFAULT_TIME_OFFSET_S, sequence_to_bag
from la_pose_ros.bags.writer import BagWriter
from la_pose_ros.messages import image_message

LA_POSE = str(Path(sys.executable).parent / "la-pose")
SIZE = (96, 48)


@pytest.fixture(scope="module")
def bags(kitti_sample, tmp_path_factory):
    """The KITTI sample as a ROS 1 bag, an mcap bag (compressed images) and a truncated bag."""
    folder = tmp_path_factory.mktemp("bags")
    sequence_to_bag(kitti_sample, folder / "kitti.bag", "ros1")
    sequence_to_bag(kitti_sample, folder / "kitti_mcap", "mcap", compressed=True)
    data = (folder / "kitti.bag").read_bytes()
    (folder / "truncated.bag").write_bytes(data[: len(data) // 2])
    return folder


def options(out: Path, **overrides) -> ExtractOptions:
    return ExtractOptions(out=str(out), size=SIZE, image_format="png", **overrides)


def test_the_extract_defaults_are_the_paper_clip_recipe():
    defaults = ExtractOptions(out="clips")
    assert (defaults.clip_len, defaults.size) == (PAPER_CLIP_LEN, PAPER_FRAME_SIZE)
    assert (defaults.min_fps, defaults.max_fps) == PAPER_FPS_RANGE


def test_a_truncated_bag_is_reported_and_the_others_still_extract(bags, tmp_path, kitti_sample):
    paths = [str(bags / "kitti.bag"), str(bags / "truncated.bag"), str(bags / "kitti_mcap")]
    summary = extract_bags(paths, options(tmp_path, pose_topic="/ground_truth/odometry"), workers=2)
    assert summary["extracted"] == 2
    assert list(summary["failed"]) == [str(bags / "truncated.bag")]
    assert summary["frames_read"] == 2 * 91 and summary["clips"] >= 4
    assert not list(tmp_path.glob("truncated*.tar"))  # nothing half-written is left

    # the clips carry the real ground truth: relative poses equal KITTI's for the same frames
    sequence = KittiSequence(kitti_sample)
    for shard in summary["shards"]:
        for meta in read_shard_metadata(shard):
            assert meta["image_size"] == list(SIZE)
            stamps = np.asarray(meta["source_stamps"]) - DEFAULT_TIME_OFFSET_S
            indices = [int(np.argmin(np.abs(sequence.stamps - s))) for s in stamps]
            expected = adjacent_relative_poses(sequence.world_from_cam[indices])
            got = adjacent_relative_poses(np.asarray(meta["world_from_cam"]).reshape(-1, 4, 4))
            np.testing.assert_allclose(got, expected, atol=1e-6)
            assert 1.0 - 0.05 <= meta["fps"] <= 4.0 + 0.05

    # and the training reader decodes them with labels
    sample = next(iter(ClipShardDataset(summary["shards"], image_size=SIZE, shuffle_buffer=1)))
    assert sample["frames"].shape == (16, 3, SIZE[1], SIZE[0])
    assert sample["relative_poses"].shape == (15, 4, 4)


def test_a_rerun_with_the_manifest_writes_nothing_new(bags, tmp_path):
    paths = [str(bags / "kitti.bag"), str(bags / "truncated.bag")]
    first = extract_bags(paths, options(tmp_path))
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    second = extract_bags(paths, options(tmp_path))
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert first["extracted"] == 1 and second["already_done"] == 1
    assert second["extracted"] == 0 and second["frames_read"] == 0
    assert before == after
    assert list(second["failed"]) == [str(bags / "truncated.bag")]  # retried, still failing


def test_job_array_shards_split_the_bags(bags, tmp_path):
    paths = [str(bags / "kitti.bag"), str(bags / "kitti_mcap")]
    jobs = [
        extract_bags(paths, options(tmp_path / f"job{i}"), shard_index=i, num_shards=2)
        for i in range(2)
    ]
    assert [job["bags"] for job in jobs] == [1, 1]
    assert sum(job["extracted"] for job in jobs) == 2


def test_tf_chain_gives_the_same_labels_as_the_pose_topic(bags, tmp_path):
    from_topic = extract_bag(
        str(bags / "kitti.bag"), options(tmp_path / "a", pose_topic="/ground_truth/odometry")
    )
    from_tf = extract_bag(
        str(bags / "kitti.bag"), options(tmp_path / "b", tf_chain=("world", "base_link_gt"))
    )
    poses = [
        [np.asarray(m["world_from_cam"]) for s in summary.shards for m in read_shard_metadata(s)]
        for summary in (from_topic, from_tf)
    ]
    assert len(poses[0]) == len(poses[1]) > 0
    for a, b in zip(*poses, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)


def test_static_stretches_duplicates_and_broken_images_are_skipped(kitti_sample, tmp_path):
    sequence = KittiSequence(kitti_sample)
    bag = tmp_path / "stops"
    with BagWriter(bag, "mcap") as writer:
        stamp = 0.0

        def put(image, seconds):
            ns = round(seconds * 1e9)
            message = image_message(image, Time(sec=ns // 10**9, nanosec=ns % 10**9), "cam")
            writer.write("/camera/image_raw", message, ns)

        for index in range(40):  # driving
            put(sequence.image(index), stamp)
            stamp += 0.1
        for _ in range(30):  # stopped at a light: the same picture (sensor noise aside)
            noisy = np.clip(
                sequence.image(39).astype(int)
                + np.random.default_rng(0).integers(-1, 2, (376, 1241)),
                0,
                255,
            )
            put(noisy.astype(np.uint8), stamp)
            stamp += 0.1
        put(sequence.image(40), stamp - 0.1)  # a duplicate stamp
        broken = image_message(sequence.image(41), Time(sec=int(stamp)), "cam")
        broken.encoding = "unknown"
        writer.write("/camera/image_raw", broken, round(stamp * 1e9))
        stamp += 0.1
        for index in range(42, 91):  # driving again
            put(sequence.image(index), stamp)
            stamp += 0.1
    summary = extract_bag(str(bag), options(tmp_path / "out"))
    assert summary.status == "extracted", summary.error
    assert summary.skipped["static"] >= 25
    assert summary.skipped["duplicate_or_backwards_stamp"] == 1
    assert summary.skipped["undecodable"] == 1
    assert summary.frames_kept == summary.frames_read - sum(summary.skipped.values())


def test_cli_extract_exit_code_and_summary(bags, tmp_path):
    result = subprocess.run(
        [
            LA_POSE,
            "bag",
            "extract",
            str(bags / "kitti.bag"),
            str(bags / "truncated.bag"),
            "--out",
            str(tmp_path),
            "--size",
            "96x48",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1  # one bag failed: scripts see it
    summary = json.loads(result.stdout)
    assert summary["extracted"] == 1 and len(summary["failed"]) == 1
    shutil.rmtree(tmp_path / "manifest")
