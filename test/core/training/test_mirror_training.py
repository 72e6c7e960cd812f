"""``--mirror``: the training stream flips clips with their labels, in every clip stage (a head
on cached mirrored latents trains as on frames: test_latent_cache.py)."""

import json

import pytest
import torch

from la_pose_core.data.mirror import mirror_relative_poses
from la_pose_core.data.shards import ClipShardDataset
from la_pose_core.training import Trainer, TrainOptions
from la_pose_core.training.latent_cache import LatentCache
from test.core.training.helpers import TINY_SIZE, la_pose
from test.core.training.test_trainer import options


def test_the_stream_mirrors_clips_and_their_labels(tiny_shards):
    plain = {s["key"]: s for s in ClipShardDataset(tiny_shards, image_size=TINY_SIZE)}
    flags = []
    for sample in ClipShardDataset(tiny_shards, image_size=TINY_SIZE, mirror=0.5):
        before = plain[sample["key"]]
        flags.append(bool(sample["mirrored"]))
        expected = before["frames"].flip(-1) if flags[-1] else before["frames"]
        torch.testing.assert_close(sample["frames"], expected, rtol=0, atol=0)
        relative = before["relative_poses"].numpy()
        expected = mirror_relative_poses(relative) if flags[-1] else relative
        torch.testing.assert_close(sample["relative_poses"].numpy(), expected)
    assert any(flags) and not all(flags)


def test_a_cache_without_mirrored_latents_is_recomputed_for_a_mirrored_run(
    tmp_path, tiny_shards, capsys
):
    Trainer(options(tmp_path, tiny_shards, name="plain", cache_latents=True, steps=1)).run()
    plain = (tmp_path / "plain" / "latent_cache.pt").read_bytes()
    assert torch.load(tmp_path / "plain" / "latent_cache.pt", weights_only=True)["mirrored"] is None
    path = tmp_path / "run" / "latent_cache.pt"  # the same backbone's cache, not mirrored
    path.parent.mkdir()
    path.write_bytes(plain)
    capsys.readouterr()
    mirrored = options(tmp_path, tiny_shards, name="run", cache_latents=True, steps=1, mirror=1.0)
    assert Trainer(mirrored).run().finished
    assert "latent cache of 16 clips computed" in capsys.readouterr().err
    assert len(torch.load(path, weights_only=True)["mirrored"]) == 16
    with pytest.raises(KeyError, match="no mirrored latents"):
        LatentCache({"a": torch.zeros(3, 4)}, "x").lookup(["a"], 3, torch.tensor([True]))


def test_pretraining_with_mirror_runs_and_the_option_is_recorded(
    tmp_path, tiny_shards, random_tokenizer, capsys
):
    base = ["--data", str(tiny_shards), "--init", str(random_tokenizer), "--steps", "2"]
    base += ["--batch-size", "2", "--no-progress", "--device", "cpu", "--mirror", "0.5"]
    assert la_pose(["train", "pretrain", *base, "--out", str(tmp_path / "pre")]) == 0
    assert json.loads(capsys.readouterr().out)["finished"]
    stored = json.loads((tmp_path / "pre" / "config.json").read_text())["options"]
    assert stored["mirror"] == 0.5


@pytest.mark.parametrize(
    ("stage", "share", "message"),
    [("posttrain", -0.1, r"must be in \[0, 1\]"), ("tokenizer", 0.5, "not the tokenizer")],
)
def test_bad_mirror_options_are_refused(stage, share, message):
    run = TrainOptions(stage=stage, run_dir="x", data=["y"], config=None, init="z", mirror=share)
    with pytest.raises(ValueError, match=message):
        run.validate()
