"""``--cache-latents``: post-training on a frozen backbone's kept latent actions is the same
training as on decoded frames, survives a resume, and refuses what it cannot keep."""

import json
import signal

import pytest
import torch

from la_pose_core.data.shards import ClipShardDataset
from la_pose_core.training import MODEL_FILE, Trainer, TrainOptions
from la_pose_core.training.latent_cache import LatentCache
from la_pose_core.training.options import resume_options
from test.core.training.helpers import TINY_SIZE, la_pose
from test.core.training.test_trainer import assert_same_weights, options, state

SETTINGS = dict(steps=6, clip_len_sampling="exponential", grad_accum=2)  # prefixes slice too


def test_clips_can_be_read_without_decoding_their_frames(tiny_shards):
    full = {s["key"]: s for s in ClipShardDataset(tiny_shards, image_size=TINY_SIZE)}
    for sample in ClipShardDataset(tiny_shards, image_size=TINY_SIZE, with_frames=False):
        assert "frames" not in sample
        reference = full[sample["key"]]
        for name in ("dt", "relative_poses", "fov"):  # what the targets are built from
            torch.testing.assert_close(sample[name], reference[name])


@pytest.mark.parametrize("mirror", [0.0, 0.5])  # 0.5: flipped clips read their own latents
def test_training_on_cached_latents_equals_training_on_frames(
    tmp_path, tiny_shards, capsys, mirror
):
    settings = dict(SETTINGS, mirror=mirror)
    Trainer(options(tmp_path, tiny_shards, name="frames", **settings)).run()
    cached = Trainer(options(tmp_path, tiny_shards, name="cached", cache_latents=True, **settings))
    assert cached.run().finished
    assert "latent cache of 16 clips computed" in capsys.readouterr().err
    assert (tmp_path / "cached" / "latent_cache.pt").is_file()
    assert_same_weights(  # the backbone ran on other batches: float rounding only
        state(tmp_path / "frames" / MODEL_FILE, "posttrainer"),
        state(tmp_path / "cached" / MODEL_FILE, "posttrainer"),
        atol=1e-5,
    )


def test_a_resumed_cached_run_reads_its_cache_and_ends_as_an_uninterrupted_one(
    tmp_path, tiny_shards, capsys
):
    settings = dict(SETTINGS, cache_latents=True, checkpoint_every=3)
    Trainer(options(tmp_path, tiny_shards, name="reference", **settings)).run()
    interrupted = Trainer(options(tmp_path, tiny_shards, name="resumed", **settings))

    def stop_at_three(trainer, step):
        if step == 3:
            trainer.stop_signal = signal.SIGTERM

    interrupted.step_hooks.append(stop_at_three)
    assert interrupted.run().step == 3
    capsys.readouterr()
    resumed = Trainer(resume_options(tmp_path / "resumed", {"progress": False}), resume=True)
    assert resumed.run().finished
    assert "latent cache of 16 clips read from" in capsys.readouterr().err
    assert_same_weights(
        state(tmp_path / "reference" / MODEL_FILE, "posttrainer"),
        state(tmp_path / "resumed" / MODEL_FILE, "posttrainer"),
    )


@pytest.mark.parametrize("kind", ["another backbone's", "corrupt"])
def test_a_cache_that_is_not_this_backbones_is_recomputed(tmp_path, tiny_shards, capsys, kind):
    run = options(tmp_path, tiny_shards, name="run", cache_latents=True, steps=1)
    path = tmp_path / "run" / "latent_cache.pt"
    path.parent.mkdir()
    if kind == "corrupt":
        path.write_bytes(b"not a cache")
    else:  # a well-formed cache whose latents would be wrong for this run
        LatentCache({"seq0-00000000": torch.zeros(5, 4)}, fingerprint="another backbone").save(path)
    assert LatentCache.load(path, fingerprint="this backbone") is None
    assert Trainer(run).run().finished
    assert "latent cache of 16 clips computed" in capsys.readouterr().err
    rewritten = torch.load(path, weights_only=True)
    assert rewritten["fingerprint"] != "another backbone" and len(rewritten["latents"]) == 16


def test_repeated_clip_keys_are_refused(tmp_path, tiny_shards):
    twice = options(tmp_path, tiny_shards, cache_latents=True, data=[str(tiny_shards)] * 2)
    with pytest.raises(ValueError, match="appears twice in --data"):
        Trainer(twice).run()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stage": "pretrain"}, "is for post-training"),
        ({"finetune_backbone": True}, "needs a frozen backbone"),
        ({"virtual_rotation": 0.5}, "re-rendered every epoch"),
        ({"virtual_actions": "encoder.pt"}, "--virtual-actions"),
    ],
)
def test_what_cannot_be_cached_is_refused(changes, message):
    run = TrainOptions(stage="posttrain", run_dir="x", data=["y"], init="z", cache_latents=True)
    for name, value in changes.items():
        setattr(run, name, value)
    with pytest.raises(ValueError, match=message):
        run.validate()


def test_the_command_line_option_reaches_the_run(tmp_path, tiny_shards, capsys):
    base = ["train", "posttrain", "--data", str(tiny_shards), "--config", "tiny", "--steps", "2"]
    base += ["--batch-size", "2", "--no-progress", "--device", "cpu", "--cache-latents"]
    assert la_pose([*base, "--out", str(tmp_path / "run")]) == 0
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["options"]
    assert stored["cache_latents"] is True
    assert la_pose([*base, "--finetune-backbone", "--out", str(tmp_path / "ft")]) == 2
    assert "--cache-latents needs a frozen backbone" in capsys.readouterr().err
