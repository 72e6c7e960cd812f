"""``la-pose synth`` and ``la-pose shards`` through the real entry point."""

import json

import numpy as np
import pytest

from la_pose_core.cli import main
from la_pose_core.data import KittiSequence
from la_pose_core.data.shards import read_shard_metadata


@pytest.fixture
def la_pose():
    """The real ``la-pose`` entry point (``la_pose_core.cli.main.main``)."""
    return main.main


def test_synth_writes_a_kitti_folder(la_pose, tmp_path, capsys):
    out = tmp_path / "synth"
    argv = ["synth", "--out", str(out), "--frames", "3", "--seed", "2", "--size", "64x32"]
    assert la_pose([*argv, "--fps", "5", "--fov-deg", "40"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["frames"] == 3 and summary["size"] == [64, 32]
    assert "rendering" in captured.err  # tqdm progress on stderr
    sequence = KittiSequence(out)
    assert len(sequence) == 3 and sequence.image(0).shape == (32, 64, 3)
    assert sequence.intrinsics.vertical_fov == pytest.approx(np.radians(40.0))
    np.testing.assert_allclose(sequence.stamps, [0.0, 0.2, 0.4])
    # existing frames are kept unless --overwrite
    assert la_pose(argv) == 2
    assert "already holds frames" in capsys.readouterr().err
    assert la_pose([*argv, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--size", "64"], "size must look like"),
        (["--frames", "0"], "--frames must be at least 1"),
        (["--reverse-prob", "2"], "reverse_probability"),
    ],
)
def test_synth_errors_are_one_line(la_pose, tmp_path, capsys, extra, message):
    argv = ["synth", "--out", str(tmp_path / "s"), "--frames", "2", "--size", "32x16", *extra]
    assert la_pose(argv) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and error.startswith("la-pose synth: error:")
    assert len(error.splitlines()) == 1


def test_shards_from_the_kitti_sample(la_pose, kitti_sample, tmp_path, capsys):
    out = tmp_path / "shards"
    argv = ["shards", "--sequence", str(kitti_sample), "--out", str(out), "--clips", "2"]
    extra = ["--seed", "1", "--clip-len", "4", "--reverse-prob", "1", "--image-format", "jpeg"]
    assert la_pose([*argv, *extra, "--clips-per-shard", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["clips"] == 2 and summary["reversed"] == 2 and summary["labelled"]
    assert len(summary["shards"]) == 2
    metas = list(read_shard_metadata(out))
    assert [m["num_frames"] for m in metas] == [4, 4]
    assert all(m["reversed"] and m["image_format"] == "jpeg" for m in metas)
    assert metas[0]["image_size"] == [1241, 376] and metas[0]["channels"] == 1
    assert 1.0 <= summary["fps"]["min"] <= summary["fps"]["max"] <= 4.0


def test_shards_errors(la_pose, tmp_path, kitti_sample, capsys):
    missing = ["shards", "--sequence", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]
    assert la_pose([*missing, "--clips", "1"]) == 2
    assert "not a KITTI-layout sequence" in capsys.readouterr().err
    too_fast = ["shards", "--sequence", str(kitti_sample), "--out", str(tmp_path / "o")]
    assert la_pose([*too_fast, "--clips", "1", "--min-fps", "20", "--max-fps", "30"]) == 2
    assert "no valid" in capsys.readouterr().err
    assert la_pose([*too_fast, "--clips", "1", "--min-fps", "5", "--max-fps", "2"]) == 2


def test_synth_workers_do_not_change_the_output(la_pose, tmp_path, capsys):
    common = ["--frames", "4", "--seed", "9", "--size", "48x24"]
    assert la_pose(["synth", "--out", str(tmp_path / "one"), *common]) == 0
    assert la_pose(["synth", "--out", str(tmp_path / "two"), *common, "--workers", "2"]) == 0
    for name in (
        "times.txt",
        "calib.txt",
        "poses.txt",
        *(f"image_0/{i:06d}.png" for i in range(4)),
    ):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_shards_from_a_synthetic_drive(la_pose, tmp_path, capsys):
    out = tmp_path / "shards"
    argv = ["shards", "--synthetic", "4", "--frames", "60", "--size", "32x16", "--out", str(out)]
    assert la_pose([*argv, "--clips", "2", "--clip-len", "4"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["clips"] == 2 and summary["labelled"]
    metas = list(read_shard_metadata(out))
    assert metas[0]["source"] == "synthetic-seed4" and metas[0]["image_size"] == [32, 16]
    assert la_pose([*argv, "--clips", "1", "--frames", "3"]) == 2
    assert "shorter than a clip" in capsys.readouterr().err
