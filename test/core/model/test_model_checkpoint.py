"""Checkpoints carry their config and rebuild identical models (weights_only loading)."""

import dataclasses

import pytest
import torch

from la_pose_core.model.checkpoint import NotACheckpointError, load_checkpoint, save_checkpoint
from la_pose_core.model.config import get_config
from la_pose_core.model.inverse_dynamics import InverseDynamics
from la_pose_core.model.lapose import LAPosePosttrainer
from la_pose_core.model.pose_head import PoseHead
from test.core.bad_checkpoints import write_bad_checkpoints

CONFIG = dataclasses.replace(
    get_config("tiny"),
    pose_head=dataclasses.replace(get_config("tiny").pose_head, learned_uncertainty=True),
)


def test_posttrainer_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = LAPosePosttrainer(CONFIG).eval()
    with torch.no_grad():
        model.pose_loss.log_variances.fill_(0.25)
    path = save_checkpoint(tmp_path / "post.pt", model, CONFIG, extra={"step": 7, "note": "x"})
    assert [p.name for p in tmp_path.iterdir()] == ["post.pt"]  # no temporary file left
    raw = torch.load(path, weights_only=True)  # only plain containers and tensors inside
    assert raw["config"] == CONFIG.to_dict()

    loaded = load_checkpoint(path)
    assert loaded.config == CONFIG
    assert loaded.extra == {"step": 7, "note": "x"}
    restored = loaded.modules["posttrainer"]
    assert restored.backbone_frozen and not restored.training
    frames = torch.rand(1, CONFIG.clip_len, 3, CONFIG.image_height, CONFIG.image_width)
    with torch.no_grad():
        expected, actual = model(frames), restored(frames)
    for name, value in expected.items():
        assert torch.equal(actual[name], value), name
    assert torch.equal(restored.pose_loss.log_variances, model.pose_loss.log_variances)


def test_parts_are_stored_by_name_and_overwritten_atomically(tmp_path):
    torch.manual_seed(0)
    parts = {"inverse_dynamics": InverseDynamics(CONFIG), "pose_head": PoseHead(CONFIG)}
    path = tmp_path / "parts.pt"
    save_checkpoint(path, parts, CONFIG)
    save_checkpoint(path, parts, CONFIG, extra={"epoch": 2})
    loaded = load_checkpoint(path)
    assert sorted(loaded.modules) == ["inverse_dynamics", "pose_head"]
    assert loaded.extra == {"epoch": 2}
    for name, module in parts.items():
        for key, value in module.state_dict().items():
            assert torch.equal(loaded.modules[name].state_dict()[key], value)


def test_misnamed_parts_and_non_plain_extra_are_refused(tmp_path):
    head = PoseHead(CONFIG)
    with pytest.raises(TypeError, match="holds a PoseHead"):
        save_checkpoint(tmp_path / "a.pt", {"tokenizer": head}, CONFIG)
    with pytest.raises(TypeError, match=r"extra\.when"):
        save_checkpoint(tmp_path / "b.pt", head, CONFIG, extra={"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_files_that_are_not_checkpoints_get_a_one_line_reason(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", PoseHead(CONFIG), CONFIG)
    for path, reason in write_bad_checkpoints(tmp_path / "bad", good).items():
        with pytest.raises(NotACheckpointError) as raised:
            load_checkpoint(path)
        message = str(raised.value)
        assert message.startswith(f"{path} is not an LA-Pose checkpoint: "), message
        assert reason in message and "\n" not in message and "weights_only" not in message
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
