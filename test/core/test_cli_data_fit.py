"""The data recipe fits its configs: ``shards --config``, ``--size``/``--frames`` with a
``--sequence``, and the tokenizer's one-line warning about clips its config's later stages
would refuse."""

import json
from typing import ClassVar

import numpy as np
import pytest

from la_pose_core.cli.main import main
from la_pose_core.data import KittiSequence
from la_pose_core.data.shards import ClipShardDataset, read_shard_metadata
from la_pose_core.data.synthetic import write_synthetic_sequence


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    """A 40-frame synthetic drive at 80x40 in KITTI layout (with calib.txt and poses)."""
    folder = tmp_path_factory.mktemp("drive")
    write_synthetic_sequence(folder, 40, 3, size=(80, 40), fps=10.0)
    return folder


def shards(argv, capsys) -> dict:
    assert main(["shards", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_shards_of_a_sequence_honour_size_with_the_intrinsics_following(drive, tmp_path, capsys):
    out = tmp_path / "shards"
    argv = ["--sequence", str(drive), "--out", str(out), "--clips", "2", "--clip-len", "4"]
    summary = shards([*argv, "--size", "48x32"], capsys)
    assert summary["clip_len"] == 4
    metas = list(read_shard_metadata(out))
    assert len(metas) == 2 and all(meta["image_size"] == [48, 32] for meta in metas)
    # 80x40 (aspect 2) cropped to 60x40 (aspect 1.5), then scaled by 0.8
    source = KittiSequence(drive).intrinsics
    intrinsics = metas[0]["intrinsics"]
    assert intrinsics["fx"] == pytest.approx(source.fx * 0.8)
    assert intrinsics["fy"] == pytest.approx(source.fy * 0.8)
    assert intrinsics["cx"] == pytest.approx((source.cx - 10) * 0.8)
    assert intrinsics["cy"] == pytest.approx(source.cy * 0.8)
    clip = next(iter(ClipShardDataset(str(out / "clips-000000.tar"), with_labels=True)))
    assert tuple(clip["frames"].shape) == (4, 3, 32, 48)


def test_shards_of_a_sequence_keep_its_size_without_size(drive, tmp_path, capsys):
    out = tmp_path / "shards"
    argv = ["--sequence", str(drive), "--out", str(out), "--clips", "1", "--clip-len", "3"]
    shards(argv, capsys)
    assert [meta["image_size"] for meta in read_shard_metadata(out)] == [[80, 40]]


def test_frames_with_a_sequence_is_refused_in_one_line(drive, tmp_path, capsys):
    argv = ["shards", "--sequence", str(drive), "--out", str(tmp_path), "--clips", "1"]
    assert main([*argv, "--frames", "30"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "la-pose shards: error: --frames is the length of a --synthetic drive; a --sequence "
        "uses all its frames"
    ]
    assert not list(tmp_path.glob("*.tar"))


def test_shards_config_cuts_clips_for_a_preset(drive, tmp_path, capsys):
    out = tmp_path / "shards"
    argv = ["--sequence", str(drive), "--out", str(out), "--clips", "1", "--config", "tiny"]
    assert shards(argv, capsys)["clip_len"] == 6
    (meta,) = read_shard_metadata(out)
    assert (meta["num_frames"], meta["image_size"]) == (6, [64, 32])
    # given options win over the preset's
    other = tmp_path / "other"
    argv = ["--sequence", str(drive), "--out", str(other), "--clips", "1", "--config", "tiny"]
    shards([*argv, "--clip-len", "5", "--size", "32x16"], capsys)
    (meta,) = read_shard_metadata(other)
    assert (meta["num_frames"], meta["image_size"]) == (5, [32, 16])


class FakeTrainer:
    """Stands in for the Trainer: records that the run started, trains nothing."""

    started: ClassVar[list] = []

    def __init__(self, options, resume=False):
        self.options = options

    def run(self):
        from la_pose_core.training.trainer import TrainResult

        FakeTrainer.started.append(self.options)
        return TrainResult(0, self.options.steps, False, None, {"ranks": []})


@pytest.fixture
def fake_trainer(monkeypatch):
    from la_pose_core.training import trainer

    FakeTrainer.started = []
    monkeypatch.setattr(trainer, "Trainer", FakeTrainer)
    return FakeTrainer


def tokenizer_argv(data, tmp_path, config="tiny"):
    return ["train", "tokenizer", "--config", config, "--data", str(data), "--out", str(tmp_path)]


def test_tokenizer_warns_in_one_line_when_its_clips_will_not_fit_pretraining(
    drive, tmp_path, capsys, fake_trainer
):
    data = tmp_path / "default_recipe"
    shards(["--sequence", str(drive), "--out", str(data), "--clips", "1"], capsys)
    assert main(tokenizer_argv(data, tmp_path / "run")) == 0
    assert len(fake_trainer.started) == 1  # a warning, not a refusal: the tokenizer can use them
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [
        "la-pose train: warning: the shards hold 16-frame clips of 80x40, the 'tiny' config "
        "needs 6 frames at 64x32: this tokenizer trains on them, but pretraining and "
        "post-training with its config will refuse them; re-cut them with la-pose shards or "
        "la-pose bag extract --config tiny (or --clip-len 6 --size 64x32)"
    ]


def test_tokenizer_says_nothing_when_the_clips_fit(drive, tmp_path, capsys, fake_trainer):
    data = tmp_path / "tiny_recipe"
    shards(
        ["--sequence", str(drive), "--out", str(data), "--clips", "1", "--config", "tiny"], capsys
    )
    assert main(tokenizer_argv(data, tmp_path / "run")) == 0
    assert "warning" not in capsys.readouterr().err
    assert len(fake_trainer.started) == 1


def test_synthetic_shards_take_size_and_clip_len(tmp_path, capsys):
    out = tmp_path / "shards"
    argv = ["--synthetic", "0", "--out", str(out), "--clips", "1", "--frames", "20"]
    summary = shards([*argv, "--size", "32x16", "--clip-len", "3"], capsys)
    assert summary["clip_len"] == 3
    (meta,) = read_shard_metadata(out)
    assert (meta["num_frames"], meta["image_size"]) == (3, [32, 16])
    assert np.isfinite(meta["fps"])
