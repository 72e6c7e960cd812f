"""Pretraining and post-training wrappers: losses, frozen parts, one optimizer step each."""

import dataclasses

import numpy as np
import torch

from la_pose_core.geometry import make_pose
from la_pose_core.model.config import get_config
from la_pose_core.model.lapose import LAPosePosttrainer, LAPosePretrainer
from la_pose_core.model.targets import PoseTargets

CONFIG = get_config("tiny")


def clip(batch: int = 2) -> torch.Tensor:
    return torch.rand(batch, CONFIG.clip_len, 3, CONFIG.image_height, CONFIG.image_width)


def targets(batch: int = 2) -> PoseTargets:
    poses = np.broadcast_to(
        make_pose(np.eye(3), [0.1, 0.0, 1.5]), (batch, CONFIG.clip_len - 1, 4, 4)
    )
    return PoseTargets.from_relative_poses(poses, fov=0.8)


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def changed(before: dict, module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[name], value) for name, value in module.state_dict().items())


def test_pretraining_step_trains_both_dynamics_models_but_not_the_tokenizer():
    torch.manual_seed(0)
    model = LAPosePretrainer(CONFIG).train()
    assert not model.tokenizer.training  # frozen parts stay in eval mode under .train()
    tokenizer_before = snapshot(model.tokenizer)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    outputs = model(clip())
    rows, cols = CONFIG.code_grid
    pairs = CONFIG.clip_len - 1
    assert outputs["indices"].shape == (2, CONFIG.clip_len, rows, cols)
    assert outputs["logits"].shape == (2, pairs, rows, cols, CONFIG.tokenizer.codebook_size)
    assert outputs["latent_actions"].shape == (2, pairs, CONFIG.inverse_dynamics.dim)
    outputs["loss"].backward()
    assert all(p.grad is None for p in model.tokenizer.parameters())
    assert model.inverse_dynamics.patch_embed.weight.grad.abs().sum() > 0
    assert model.forward_dynamics.token_embed.weight.grad.abs().sum() > 0
    optimizer.step()
    assert not changed(tokenizer_before, model.tokenizer)  # incl. the EMA codebook buffers


def test_post_training_step_moves_the_head_but_not_the_frozen_backbone():
    torch.manual_seed(0)
    config = dataclasses.replace(
        CONFIG, inverse_dynamics=dataclasses.replace(CONFIG.inverse_dynamics, dropout=0.5)
    )
    model = LAPosePosttrainer(config).train()
    assert model.backbone_frozen and not model.inverse_dynamics.training
    assert not any(p.requires_grad for p in model.inverse_dynamics.parameters())
    backbone_before, head_before = snapshot(model.inverse_dynamics), snapshot(model.pose_head)
    frames = clip()
    first = model(frames)["latent_actions"]
    assert torch.equal(first, model(frames)["latent_actions"])  # no dropout in a frozen backbone
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)  # everything, on purpose
    outputs = model(frames, targets=targets())
    for name in ("loss", "loss_translation", "loss_rotation", "loss_fov", "loss_scale"):
        assert outputs[name].ndim == 0 and torch.isfinite(outputs[name])
    outputs["loss"].backward()
    assert all(p.grad is None for p in model.inverse_dynamics.parameters())
    optimizer.step()
    assert not changed(backbone_before, model.inverse_dynamics)
    assert changed(head_before, model.pose_head)


def test_losses_appear_only_with_targets_and_the_backbone_can_be_released():
    torch.manual_seed(0)
    model = LAPosePosttrainer(CONFIG)
    assert not any(name.startswith("loss") for name in model(clip())), "no targets, no loss"
    model.freeze_backbone(False)
    model.train()
    assert model.inverse_dynamics.training
    model(clip(), targets=targets())["loss"].backward()
    assert model.inverse_dynamics.patch_embed.weight.grad.abs().sum() > 0
