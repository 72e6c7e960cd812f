"""Bad shards in training: skipped, named in one warning line each and counted in summary.json;
``--strict-data`` makes them a one-line error; no readable shard at all is one too."""

import io
import json
import shutil
import tarfile

import pytest

from la_pose_core.training import Trainer
from test.core.training.helpers import la_pose
from test.core.training.test_trainer import options


def damaged_copy(tiny_shards, out):
    """The tiny shards with one truncated and a garbage file named .tar beside them; returns
    the folder and the bad shards."""
    out.mkdir()
    for shard in sorted(tiny_shards.glob("*.tar")):
        shutil.copy(shard, out)
    truncated = out / "seq0-000001.tar"
    truncated.write_bytes(truncated.read_bytes()[:20000])
    garbage = out / "zz-garbage.tar"
    garbage.write_text("not a tar file\n" * 50)
    return out, [truncated, garbage]


def train_argv(data, out, *extra):
    argv = ["train", "posttrain", "--config", "tiny", "--data", *map(str, data)]
    argv += ["--out", str(out), "--steps", "2", "--batch-size", "2", "--no-progress"]
    return [*argv, "--device", "cpu", "--shuffle-buffer", "4", *extra]


def test_bad_shards_are_skipped_named_and_counted(tmp_path, tiny_shards, capsys):
    data, bad = damaged_copy(tiny_shards, tmp_path / "data")
    val = tmp_path / "val"
    val.mkdir()
    shutil.copy(sorted(tiny_shards.glob("*.tar"))[0], val)
    (val / "empty.tar").write_bytes(b"")
    argv = train_argv([data], tmp_path / "run", "--val-data", str(val), "--val-batches", "1")
    assert la_pose(argv) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "warning" in line]
    assert len(warnings) == 3, captured.err
    for path, line in zip([*bad, val / "empty.tar"], warnings, strict=True):
        assert str(path) in line and "skipping" in line
    assert "truncated" in warnings[0] and "not a tar file" in warnings[1]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["finished"] and (tmp_path / "run" / "model.pt").is_file()
    assert [(entry["data"], entry["shard"]) for entry in summary["bad_shards"]] == [
        ("--data", str(bad[0])),
        ("--data", str(bad[1])),
        ("--val-data", str(val / "empty.tar")),
    ]
    assert summary["bad_data_skipped_while_reading"] == 0
    assert json.loads(captured.out)["bad_shards"] == summary["bad_shards"]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert str(bad[0]) not in config["shards"] and len(config["shards"]) == 3


@pytest.mark.parametrize("stage", ["tokenizer", "posttrain"])
def test_strict_data_makes_a_bad_shard_an_error(tmp_path, tiny_shards, capsys, stage):
    data, bad = damaged_copy(tiny_shards, tmp_path / "data")
    argv = train_argv([data], tmp_path / "run", "--strict-data")
    argv[1] = stage
    assert la_pose(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and str(bad[0]) in error[0] and "--strict-data" in error[0], error
    # validation data too
    val = train_argv([tiny_shards], tmp_path / "run2", "--strict-data", "--val-data", str(data))
    assert la_pose(val) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--val-data" in error[0] and str(bad[0]) in error[0], error


def test_no_readable_shard_is_a_one_line_error(tmp_path, tiny_shards, capsys):
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    for index in range(3):
        (garbage / f"bad-{index}.tar").write_bytes(b"\0\1" * (index * 300))
    assert la_pose(train_argv([garbage], tmp_path / "run")) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert "error" in lines[-1] and "no readable clip shard" in lines[-1], lines
    assert str(garbage / "bad-0.tar") in lines[-1]
    assert not (tmp_path / "run" / "config.json").exists()


def test_cached_latents_read_only_the_good_shards(tmp_path, tiny_shards, capsys):
    data, _ = damaged_copy(tiny_shards, tmp_path / "data")
    run = options(tmp_path, data, steps=2, cache_latents=True)
    result = Trainer(run).run()
    assert result.finished and len(result.summary["bad_shards"]) == 2
    assert "latent cache of 12 clips computed" in capsys.readouterr().err


def test_a_clip_that_does_not_decode_is_skipped_while_training(tmp_path, tiny_shards, capsys):
    data = tmp_path / "data"
    data.mkdir()
    source = sorted(tiny_shards.glob("*.tar"))[0]
    with tarfile.open(source) as tar, tarfile.open(data / source.name, "w") as out:
        for member in tar:
            content = tar.extractfile(member).read()
            if member.name.endswith("frame_02.png"):
                content = b"not a png"  # every clip of this shard: none decodes
            info = tarfile.TarInfo(member.name)
            info.size = len(content)
            out.addfile(info, io.BytesIO(content))
    for shard in sorted(tiny_shards.glob("*.tar"))[1:]:
        shutil.copy(shard, data)
    result = Trainer(options(tmp_path, data, steps=2, shuffle_buffer=0)).run()
    assert result.finished and result.summary["bad_shards"] == []
    assert result.summary["bad_data_skipped_while_reading"] >= 1
    assert "undecodable image" in capsys.readouterr().err
