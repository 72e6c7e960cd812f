"""Clip shards: exact round trip, JPEG, rank/worker splits, DataLoader batches."""

import json
import math
import tarfile

import numpy as np
import pytest
import torch

from la_pose_core.data.clips import ClipSampler
from la_pose_core.data.shards import (
    ClipShardDataset,
    ClipShardWriter,
    collate_clips,
    read_shard_metadata,
    write_clips_to_shards,
)
from la_pose_core.geometry import (
    input_vertical_fov,
    normalize_translations,
    translation_quaternion_from_pose,
)
from la_pose_core.model.targets import MIN_SCALE_M, PoseTargets
from test.core.data.helpers import TinySequence

SAMPLER = ClipSampler(clip_len=5, min_fps=2.0, max_fps=4.0, reverse_prob=0.5)


def write_tiny_shards(tmp_path, clips=6, per_shard=2, image_format="png", **source_options):
    source = TinySequence(np.arange(60) * 0.1, **source_options)
    result = write_clips_to_shards(
        source,
        tmp_path / "shards",
        clips,
        np.random.default_rng(0),
        SAMPLER,
        max_clips_per_shard=per_shard,
        image_format=image_format,
    )
    sampled = list(SAMPLER.iter_clips(source, clips, np.random.default_rng(0)))
    return source, result, sampled


def test_png_round_trip_is_exact(tmp_path):
    source, result, clips = write_tiny_shards(tmp_path)
    assert len(result.shard_paths) == 3 and result.num_clips == 6
    assert all(path.name.startswith("clips-") for path in result.shard_paths)
    with tarfile.open(result.shard_paths[0]) as tar:
        names = tar.getnames()
    first = {"tiny-00000000.meta.json"} | {f"tiny-00000000.frame_{k:02d}.png" for k in range(5)}
    assert set(names[:6]) == first and len(names) == 12  # a sample's members are consecutive

    samples = {s["key"]: s for s in ClipShardDataset(tmp_path / "shards")}
    assert sorted(samples) == [f"tiny-{k:08d}" for k in range(6)]
    for index, clip in enumerate(clips):
        sample = samples[f"tiny-{index:08d}"]
        expected = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0
        assert sample["frames"].shape == (5, 3, 12, 16)
        assert torch.equal(sample["frames"], expected)  # lossless, no resize
        np.testing.assert_array_equal(sample["stamps"].numpy(), clip.stamps)
        np.testing.assert_allclose(sample["dt"].numpy(), clip.dt, rtol=1e-6)
        assert sample["fps"].item() == pytest.approx(clip.fps)
        assert sample["reversed"].item() == clip.reversed
        np.testing.assert_array_equal(sample["relative_poses"].numpy(), clip.relative_poses)
        # the targets built from the sample are those of the clip's own poses
        targets = PoseTargets.from_relative_poses(sample["relative_poses"][None], sample["fov"])
        translation, quaternion = translation_quaternion_from_pose(clip.relative_poses)
        normalized, scale = normalize_translations(translation)
        np.testing.assert_allclose(targets.translation_normalized[0].numpy(), normalized, rtol=1e-6)
        np.testing.assert_allclose(targets.quaternion[0].numpy(), quaternion, atol=1e-7)
        expected_log_scale = math.log(max(scale, MIN_SCALE_M))
        assert targets.log_scale.item() == pytest.approx(expected_log_scale, rel=1e-6, abs=1e-7)
        assert not {"translation_normalized", "quaternion", "scale"} & set(sample)
        assert sample["fov"].item() == pytest.approx(source.intrinsics.vertical_fov, rel=1e-6)
        assert sample["source"] == "tiny"

    metas = list(read_shard_metadata(tmp_path / "shards"))
    assert [m["key"] for m in metas] == [f"tiny-{k:08d}" for k in range(6)]
    meta = metas[0]
    assert meta["format"] == "la_pose.clip" and meta["version"] == 1
    assert meta["image_size"] == [16, 12] and meta["channels"] == 3
    assert meta["intrinsics"] == {"fx": 20.0, "fy": 20.0, "cx": 7.5, "cy": 5.5}
    np.testing.assert_array_equal(np.array(meta["world_from_cam"]), clips[0].world_from_cam)
    assert meta["indices"] == clips[0].indices.tolist()
    assert json.loads(json.dumps(meta)) == meta


def test_jpeg_is_close_and_greyscale_becomes_three_channels(tmp_path):
    _, _, clips = write_tiny_shards(tmp_path, clips=2, image_format="jpeg", grayscale=True)
    samples = list(ClipShardDataset(tmp_path / "shards"))
    for sample, clip in zip(samples, clips, strict=True):
        frames = sample["frames"]
        assert frames.shape == (5, 3, 12, 16)
        assert torch.equal(frames[:, 0], frames[:, 1]) and torch.equal(frames[:, 0], frames[:, 2])
        expected = torch.from_numpy(clip.frames).float() / 255.0
        assert (frames[:, 0] - expected).abs().mean() < 3.0 / 255.0


def test_resize_crop_and_model_input_fov(tmp_path):
    write_tiny_shards(tmp_path, clips=1)
    sample = next(iter(ClipShardDataset(tmp_path / "shards", image_size=(8, 8))))
    assert sample["frames"].shape == (5, 3, 8, 8)
    assert 0.0 <= sample["frames"].min() and sample["frames"].max() <= 1.0
    # square target from a 16x12 image: columns are cropped, the vertical FoV is unchanged
    assert sample["fov"].item() == pytest.approx(input_vertical_fov(20.0, 12, 16, 8, 8))
    wide = next(iter(ClipShardDataset(tmp_path / "shards", image_size=(16, 4))))
    # a wide target crops rows: the model sees a narrower vertical FoV
    assert wide["fov"].item() == pytest.approx(2 * np.arctan(4 / (2 * 20.0)))


def test_ranks_and_workers_split_without_overlap_or_loss(tmp_path):
    write_tiny_shards(tmp_path, clips=12, per_shard=1)
    every = {s["key"] for s in ClipShardDataset(tmp_path / "shards")}
    assert len(every) == 12
    per_rank = []
    for rank in (0, 1):
        dataset = ClipShardDataset(
            tmp_path / "shards", rank=rank, world_size=2, shuffle_shards=True, shuffle_buffer=4
        )
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=None, num_workers=2, collate_fn=None
        )
        keys = [sample["key"] for sample in loader]
        assert len(keys) == len(set(keys))
        per_rank.append(set(keys))
    assert per_rank[0].isdisjoint(per_rank[1])
    assert per_rank[0] | per_rank[1] == every
    assert len(per_rank[0]) == len(per_rank[1]) == 6


def test_dataloader_with_workers_yields_documented_batches(tmp_path):
    write_tiny_shards(tmp_path, clips=8, per_shard=2)
    dataset = ClipShardDataset(tmp_path / "shards", image_size=(16, 8), shuffle_buffer=3, seed=1)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=2, num_workers=2, collate_fn=collate_clips
    )
    batches = list(loader)
    assert sum(len(b["key"]) for b in batches) == 8
    batch = batches[0]
    assert batch["frames"].shape == (2, 5, 3, 8, 16) and batch["frames"].dtype == torch.float32
    assert batch["dt"].shape == (2, 4)
    assert batch["stamps"].shape == (2, 5)
    assert batch["relative_poses"].shape == (2, 4, 4, 4)
    assert batch["relative_poses"].dtype == torch.float64
    assert batch["fov"].shape == batch["fps"].shape == (2,)
    assert batch["reversed"].dtype == torch.bool

    batched = ClipShardDataset(tmp_path / "shards", image_size=(16, 8), batch_size=4)
    loader = torch.utils.data.DataLoader(batched, batch_size=None, num_workers=2)
    assert sorted(len(b["key"]) for b in loader) == [4, 4]


def test_shuffling_is_seeded_and_changes_with_the_epoch(tmp_path):
    write_tiny_shards(tmp_path, clips=10, per_shard=2)

    def order(seed, epoch):
        dataset = ClipShardDataset(
            tmp_path / "shards", shuffle_buffer=5, shuffle_shards=True, seed=seed
        )
        dataset.set_epoch(epoch)
        return [s["key"] for s in dataset]

    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1)
    assert sorted(order(0, 1)) == sorted(order(1, 0))


def test_labels_can_be_required_or_dropped(tmp_path):
    write_tiny_shards(tmp_path, clips=2, with_poses=False)
    sample = next(iter(ClipShardDataset(tmp_path / "shards")))
    assert "relative_poses" not in sample and "fov" in sample
    with pytest.raises(ValueError, match="no poses"):
        next(iter(ClipShardDataset(tmp_path / "shards", with_labels=True)))
    unlabelled = next(iter(ClipShardDataset(tmp_path / "shards", with_labels=False)))
    assert "fov" not in unlabelled  # so clips without intrinsics batch with these
    with pytest.raises(ValueError, match="different fields"):
        collate_clips([{"a": torch.zeros(1)}, {"b": torch.zeros(1)}])


def test_writer_rejects_bad_keys_and_formats(tmp_path):
    with pytest.raises(ValueError):
        ClipShardWriter(tmp_path, image_format="bmp")
    clip = SAMPLER.sample(TinySequence(np.arange(30) * 0.1), np.random.default_rng(0))
    with ClipShardWriter(tmp_path) as writer, pytest.raises(ValueError, match="must not"):
        writer.write(clip, key="a.b")


def test_rank_from_the_environment(tmp_path, monkeypatch):
    """Without an explicit rank, webdataset's split_by_node reads RANK / WORLD_SIZE."""
    write_tiny_shards(tmp_path, clips=4, per_shard=1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    keys = []
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        keys.append({s["key"] for s in ClipShardDataset(tmp_path / "shards")})
    assert keys[0].isdisjoint(keys[1]) and len(keys[0] | keys[1]) == 4


@pytest.mark.parametrize("grayscale", [False, True])
@pytest.mark.parametrize("target", [(16, 12), (8, 8), (10, 3), (32, 20)])
def test_decoding_matches_the_inference_preprocessing(grayscale, target):
    """The reader's batched crop/resize is the model's ``preprocess_image``, frame by frame."""
    from la_pose_core.data.shards import frames_to_tensor
    from la_pose_core.inference.preprocess import preprocess_image

    source = TinySequence(np.arange(3) * 0.1, size=(16, 12), grayscale=grayscale)
    images = [source.image(i) for i in range(3)]
    width, height = target
    batched = frames_to_tensor(images, height, width)
    single = torch.stack([preprocess_image(image, height, width) for image in images])
    assert batched.shape == single.shape == (3, 3, height, width)
    torch.testing.assert_close(batched, single, atol=1e-6, rtol=0)
