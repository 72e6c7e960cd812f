"""Bad clip shards: a cheap structural check names what is wrong with a shard, and the reader
either raises one clear error or skips (one warning line, counted) what does not read."""

import io
import random
import tarfile

import numpy as np
import pytest
import torch

from la_pose_core.data.clips import ClipSampler
from la_pose_core.data.shards import (
    BadShardError,
    ClipShardDataset,
    check_shard,
    collate_clips,
    write_clips_to_shards,
)
from test.core.data.helpers import TinySequence

SAMPLER = ClipSampler(clip_len=5, min_fps=2.0, max_fps=4.0)


def good_shards(tmp_path, clips=4, per_shard=2):
    source = TinySequence(np.arange(60) * 0.1)
    result = write_clips_to_shards(
        source, tmp_path / "shards", clips, np.random.default_rng(0), SAMPLER, per_shard
    )
    return [str(path) for path in result.shard_paths]


def rewrite_tar(source, target, change):
    """Copy the tar ``source`` to ``target`` with ``change(name, data)`` applied to each member."""
    with tarfile.open(source) as tar, tarfile.open(target, "w") as out:
        for member in tar:
            data = change(member.name, tar.extractfile(member).read())
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))


def bad_shards(tmp_path, good):
    """One of each kind of bad shard, made from the good shard ``good``."""
    with open(good, "rb") as stream:
        data = stream.read()
    out = tmp_path / "bad"
    out.mkdir()
    shards = {
        "empty": b"",
        "garbage": b"this is not a tar file\n" * 10,
        "random": random.Random(0).randbytes(4096),
        "truncated": data[: len(data) // 2],
        "no_end": data[:2048].rstrip(b"\0"),
    }
    corrupt = bytearray(data)
    with tarfile.open(good) as tar:
        second_header = tar.getmembers()[1].offset
        second_clip = tar.getmembers()[6].offset
    shards["cut_between_clips"] = data[:second_clip]  # whole members, no end of the archive
    corrupt[second_header : second_header + 512] = random.Random(1).randbytes(512)
    shards["corrupt_header"] = bytes(corrupt)
    paths = {}
    for name, content in shards.items():
        paths[name] = out / f"{name}.tar"
        paths[name].write_bytes(content)
    paths["no_clips"] = out / "no_clips.tar"
    with tarfile.open(paths["no_clips"], "w") as tar:
        info = tarfile.TarInfo("readme.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    return paths


def test_the_check_names_what_is_wrong_with_a_shard(tmp_path):
    good = good_shards(tmp_path)
    assert all(check_shard(path) is None for path in good)
    reasons = {name: check_shard(path) for name, path in bad_shards(tmp_path, good[0]).items()}
    assert reasons["empty"] == "empty file"
    assert "not a tar file" in reasons["garbage"] and "not a tar file" in reasons["random"]
    assert "truncated" in reasons["truncated"] and "truncated" in reasons["no_end"]
    assert reasons["cut_between_clips"] == "truncated (no end-of-archive block)"
    assert "corrupt" in reasons["corrupt_header"]
    assert reasons["no_clips"] == "no clip samples (no .meta.json member)"
    assert check_shard(tmp_path / "missing.tar").startswith("unreadable")
    for reason in reasons.values():
        assert "\n" not in reason


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_shard_that_does_not_read_is_skipped_and_counted(tmp_path, capfd, num_workers):
    good = good_shards(tmp_path)
    truncated = bad_shards(tmp_path, good[0])["truncated"]
    urls = [good[0], str(truncated), good[1]]
    with pytest.raises(BadShardError, match=r"truncated\.tar") as error:
        list(ClipShardDataset(urls))
    assert "\n" not in str(error.value)

    dataset = ClipShardDataset(urls, skip_bad_data=True, batch_size=1)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=num_workers)
    keys = [key for batch in loader for key in batch["key"]]
    assert len(keys) == 4  # the good shards' clips (the truncated one yields none whole)
    assert dataset.skipped_bad_data == 1  # counted in the loader's worker too
    warnings = [line for line in capfd.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and str(truncated) in warnings[0] and "truncated" in warnings[0]


def test_a_clip_that_does_not_decode_is_skipped_and_counted(tmp_path, capsys):
    good = good_shards(tmp_path, clips=2, per_shard=2)
    broken = tmp_path / "broken.tar"
    first = tarfile.open(good[0]).getnames()[1]  # a frame of the first clip
    rewrite_tar(good[0], broken, lambda name, data: b"not a png" if name == first else data)
    with pytest.raises(BadShardError, match="undecodable image"):
        list(ClipShardDataset([broken]))
    dataset = ClipShardDataset([broken], skip_bad_data=True)
    samples = list(dataset)
    assert len(samples) == 1 and dataset.skipped_bad_data == 1
    err = capsys.readouterr().err
    assert f"clip {first.split('.')[0]} in shard {broken}" in err and "undecodable image" in err
    assert collate_clips(samples)["frames"].shape[0] == 1


def test_a_data_mismatch_is_not_skipped(tmp_path):
    """A clip without poses in a posed stage is the wrong data, not a bad shard: an error."""
    source = TinySequence(np.arange(60) * 0.1, with_poses=False)
    result = write_clips_to_shards(
        source, tmp_path / "unposed", 2, np.random.default_rng(0), SAMPLER, 2
    )
    with pytest.raises(ValueError, match="no poses"):
        list(ClipShardDataset(result.shard_paths, with_labels=True, skip_bad_data=True))
