"""``--virtual-rotation``: the training stream sees yawed clips with their own labels."""

import json

import pytest
import torch

from la_pose_core.data.shards import ClipShardDataset
from la_pose_core.data.virtual_rotation import VirtualRotation
from la_pose_core.training.options import TrainOptions
from test.core.training.helpers import TINY_SIZE, la_pose


def test_the_stream_rotates_clips_and_their_labels(tiny_shards):
    plain = {s["key"]: s for s in ClipShardDataset(tiny_shards, image_size=TINY_SIZE)}
    rotated = ClipShardDataset(
        tiny_shards, image_size=TINY_SIZE, virtual_rotation=VirtualRotation(probability=1.0)
    )
    for sample in rotated:
        before = plain[sample["key"]]
        assert sample["frames"].shape == before["frames"].shape
        assert not torch.equal(sample["frames"], before["frames"])
        assert float(sample["fov"]) < float(before["fov"])  # the virtual camera zooms in
        rotation, rotation_before = (s["relative_poses"][:, :3, :3] for s in (sample, before))
        assert not torch.allclose(rotation, rotation_before)  # the motions turn
        assert torch.allclose(  # rotating the camera changes no step length
            sample["relative_poses"][:, :3, 3].norm(dim=-1),
            before["relative_poses"][:, :3, 3].norm(dim=-1),
        )


def test_training_with_virtual_rotation_runs_and_is_recorded(tmp_path, tiny_shards, capsys):
    base = ["train", "posttrain", "--data", str(tiny_shards), "--config", "tiny"]
    base += ["--steps", "2", "--batch-size", "2", "--no-progress", "--device", "cpu"]
    assert la_pose([*base, "--virtual-rotation", "0.5", "--out", str(tmp_path / "run")]) == 0
    assert json.loads(capsys.readouterr().out)["finished"]
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["options"]
    assert stored["virtual_rotation"] == 0.5


@pytest.mark.parametrize(
    ("stage", "share", "message"),
    [("posttrain", 1.5, r"must be in \[0, 1\]"), ("tokenizer", 0.5, "not the tokenizer")],
)
def test_bad_virtual_rotation_options_are_refused(stage, share, message):
    options = TrainOptions(stage=stage, run_dir="x", data=["y"], config=None, init="z")
    options.virtual_rotation = share
    with pytest.raises(ValueError, match=message):
        options.validate()
