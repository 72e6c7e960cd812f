"""Injected label noise: the corruption itself, and shards written with ``--label-noise``."""

import json
import shutil

import numpy as np
import pytest
import torch

from la_pose_core.cli import main
from la_pose_core.data import KittiSequence
from la_pose_core.data.clips import ClipSampler
from la_pose_core.data.label_noise import (
    MAX_EXTRA_ROTATION_DEG,
    MAX_TRANSLATION_FACTOR,
    MIN_EXTRA_ROTATION_DEG,
    MIN_TRANSLATION_FACTOR,
    corrupt_world_from_cam,
)
from la_pose_core.data.shards import (
    ClipShardDataset,
    clip_to_sample,
    decode_sample,
    read_shard_metadata,
    write_clips_to_shards,
)
from la_pose_core.geometry import adjacent_relative_poses, rotation_angle
from test.core.data.helpers import TinySequence


@pytest.fixture(scope="module")
def kitti(kitti_sample):
    return KittiSequence(kitti_sample)


def test_corruption_is_deterministic_by_seed(kitti):
    poses = kitti.world_from_cam  # (91, 4, 4)
    first = corrupt_world_from_cam(poses, np.random.default_rng(7))
    again = corrupt_world_from_cam(poses, np.random.default_rng(7))
    other = corrupt_world_from_cam(poses, np.random.default_rng(8))
    assert first.shape == poses.shape
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first[1:], other[1:])


def test_every_pair_is_grossly_wrong_within_the_documented_ranges(kitti):
    poses = kitti.world_from_cam  # (91, 4, 4)
    corrupted = corrupt_world_from_cam(poses, np.random.default_rng(0))
    np.testing.assert_array_equal(corrupted[0], poses[0])  # the first pose stays

    clean = adjacent_relative_poses(poses)  # (90, 4, 4)
    noisy = adjacent_relative_poses(corrupted)  # (90, 4, 4)
    # the extra rotation E = R^T R' of every pair, by an angle in [10, 40] degrees
    extra = np.swapaxes(clean[:, :3, :3], 1, 2) @ noisy[:, :3, :3]  # (90, 3, 3)
    angles = np.degrees(rotation_angle(extra))  # (90,)
    assert np.all(angles >= MIN_EXTRA_ROTATION_DEG - 1e-6)
    assert np.all(angles <= MAX_EXTRA_ROTATION_DEG + 1e-6)
    assert angles.min() < 15.0 and angles.max() > 35.0  # spread over the range
    # translation norms multiplied by a factor in [0.2, 5], both shrunk and grown
    factors = np.linalg.norm(noisy[:, :3, 3], axis=1) / np.linalg.norm(clean[:, :3, 3], axis=1)
    assert np.all(factors >= MIN_TRANSLATION_FACTOR - 1e-9)
    assert np.all(factors <= MAX_TRANSLATION_FACTOR + 1e-9)
    assert factors.min() < 0.5 and factors.max() > 2.0
    # and turned by the same extra rotation: t' = E (factor t)
    expected = np.einsum("pij,pj->pi", extra, factors[:, None] * clean[:, :3, 3])  # (90, 3)
    np.testing.assert_allclose(noisy[:, :3, 3], expected, atol=1e-9)


def test_corruption_needs_a_trajectory():
    with pytest.raises(ValueError, match="T >= 2"):
        corrupt_world_from_cam(np.eye(4)[None], np.random.default_rng(0))


CLIPS = 6
SHARDS_ARGV = ["--clips", str(CLIPS), "--clip-len", "4", "--seed", "3", "--image-format", "jpeg"]


def write_kitti_shards(kitti_sample, out, *extra):
    """``la-pose shards`` of the KITTI sample (JPEG, 6 clips of 4 frames)."""
    argv = ["shards", "--sequence", str(kitti_sample), "--out", str(out), *SHARDS_ARGV, *extra]
    assert main.main(argv) == 0


def decoded_by_key(out):
    """Every clip of the shards, decoded at a small size, by key."""
    return {s["key"]: s for s in ClipShardDataset(out, image_size=(32, 16))}


def test_shards_with_label_noise_flag_and_corrupt_half_the_clips(kitti_sample, tmp_path, capsys):
    write_kitti_shards(kitti_sample, tmp_path / "clean")
    clean_summary = json.loads(capsys.readouterr().out)
    write_kitti_shards(kitti_sample, tmp_path / "noisy", "--label-noise", "0.5")
    noisy_summary = json.loads(capsys.readouterr().out)
    assert clean_summary["label_noise"] == 0 and noisy_summary["label_noise"] == CLIPS // 2

    clean_metas = list(read_shard_metadata(tmp_path / "clean"))
    noisy_metas = list(read_shard_metadata(tmp_path / "noisy"))
    assert [m["label_noise"] for m in clean_metas] == [False] * CLIPS
    assert sum(m["label_noise"] for m in noisy_metas) == CLIPS // 2

    clean = decoded_by_key(tmp_path / "clean")
    noisy = decoded_by_key(tmp_path / "noisy")
    assert sorted(clean) == sorted(noisy) and len(clean) == CLIPS
    for key, sample in noisy.items():
        reference = clean[key]
        assert not reference["label_noise"].item()
        assert sample["label_noise"].dtype == torch.bool and sample["label_noise"].shape == ()
        # the same clip (frames, stamps); only the labels of the flagged ones differ
        assert torch.equal(sample["frames"], reference["frames"])
        assert torch.equal(sample["stamps"], reference["stamps"])
        same_labels = torch.equal(sample["relative_poses"], reference["relative_poses"])
        assert same_labels != sample["label_noise"].item()
        if sample["label_noise"]:
            angles = np.degrees(
                rotation_angle(
                    reference["relative_poses"][:, :3, :3].numpy().swapaxes(1, 2)
                    @ sample["relative_poses"][:, :3, :3].numpy()
                )
            )
            assert np.all(angles >= MIN_EXTRA_ROTATION_DEG - 1e-6)

    batch = next(iter(ClipShardDataset(tmp_path / "noisy", image_size=(32, 16), batch_size=CLIPS)))
    assert batch["label_noise"].shape == (CLIPS,) and batch["label_noise"].dtype == torch.bool
    flags = {m["key"]: m["label_noise"] for m in noisy_metas}
    assert batch["label_noise"].tolist() == [flags[key] for key in batch["key"]]

    # reproducible: the same seed flags and corrupts the same clips the same way
    write_kitti_shards(kitti_sample, tmp_path / "again", "--label-noise", "0.5")
    capsys.readouterr()
    assert list(read_shard_metadata(tmp_path / "again")) == noisy_metas


def test_old_shards_without_the_key_decode_as_clean():
    source = TinySequence(np.arange(20) * 0.1)
    clip = ClipSampler(clip_len=3).sample(source, np.random.default_rng(0))
    sample = clip_to_sample(clip, "old")
    meta = json.loads(sample["meta.json"])
    del meta["label_noise"]
    sample["meta.json"] = json.dumps(meta).encode()
    decoded = decode_sample(sample)
    assert decoded["label_noise"].dtype == torch.bool and not decoded["label_noise"].item()


@pytest.mark.parametrize("fraction", ["1.5", "-0.1", "nan"])
def test_a_bad_fraction_is_a_one_line_error(kitti_sample, tmp_path, capsys, fraction):
    argv = ["shards", "--sequence", str(kitti_sample), "--out", str(tmp_path / "o"), "--clips", "1"]
    assert main.main([*argv, "--label-noise", fraction]) == 2
    error = capsys.readouterr().err.strip()
    assert "--label-noise must be a fraction in [0, 1]" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        write_clips_to_shards(
            TinySequence(np.arange(20) * 0.1),
            tmp_path,
            1,
            np.random.default_rng(0),
            label_noise=float(fraction),
        )


def test_label_noise_needs_poses(kitti_sample, tmp_path, capsys):
    # a KITTI-layout copy of the sample without poses.txt
    unposed = tmp_path / "unposed"
    (unposed / "image_0").mkdir(parents=True)
    shutil.copy(kitti_sample / "calib.txt", unposed)
    stamps = (kitti_sample / "times.txt").read_text().splitlines()[:20]
    (unposed / "times.txt").write_text("\n".join(stamps) + "\n")
    for index in range(20):
        (unposed / "image_0" / f"{index:06d}.png").symlink_to(
            kitti_sample / "image_0" / f"{index:06d}.png"
        )
    argv = ["shards", "--sequence", str(unposed), "--out", str(tmp_path / "o"), "--clips", "1"]
    assert main.main([*argv, "--clip-len", "3", "--label-noise", "0.5"]) == 2
    assert "needs poses" in capsys.readouterr().err
    with pytest.raises(ValueError, match="needs poses"):
        write_clips_to_shards(
            TinySequence(np.arange(20) * 0.1, with_poses=False),
            tmp_path,
            1,
            np.random.default_rng(0),
            label_noise=0.5,
        )
