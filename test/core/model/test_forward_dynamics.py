"""Forward dynamics: logits per next-frame code, causality, loss only with targets."""

import dataclasses

import torch

from la_pose_core.model.config import get_config
from la_pose_core.model.forward_dynamics import ForwardDynamics

CONFIG = get_config("tiny")


def inputs(steps: int = 4):
    rows, cols = CONFIG.code_grid
    codes = torch.randint(0, CONFIG.tokenizer.codebook_size, (2, steps + 1, rows, cols))
    actions = torch.randn(2, steps, CONFIG.inverse_dynamics.dim)
    return codes, actions


def test_logits_cover_every_code_of_every_next_frame_and_loss_needs_targets():
    torch.manual_seed(0)
    model = ForwardDynamics(CONFIG)
    codes, actions = inputs()
    outputs = model(codes[:, :-1], actions)
    rows, cols = CONFIG.code_grid
    assert outputs["logits"].shape == (2, 4, rows, cols, CONFIG.tokenizer.codebook_size)
    assert "loss" not in outputs
    loss = model(codes[:, :-1], actions, targets=codes[:, 1:])["loss"]
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.action_proj.weight.grad.abs().sum() > 0


def test_prediction_of_frame_t_plus_1_ignores_later_frames_and_actions():
    torch.manual_seed(0)
    model = ForwardDynamics(CONFIG).eval()
    codes, actions = inputs()
    context = codes[:, :-1]
    edited_codes, edited_actions = context.clone(), actions.clone()
    edited_codes[:, 2] = (edited_codes[:, 2] + 1) % CONFIG.tokenizer.codebook_size
    edited_actions[:, 2] += 1.0
    with torch.no_grad():
        before = model(context, actions)["logits"]
        after = model(edited_codes, edited_actions)["logits"]
    torch.testing.assert_close(after[:, :2], before[:, :2], rtol=0, atol=1e-6)
    assert (after[:, 2] - before[:, 2]).abs().max() > 1e-3


def test_without_past_frames_each_prediction_sees_its_own_frame_and_action_only():
    torch.manual_seed(0)
    config = dataclasses.replace(
        CONFIG, forward_dynamics=dataclasses.replace(CONFIG.forward_dynamics, past_frames=False)
    )
    model = ForwardDynamics(config).eval()
    codes, actions = inputs()
    context = codes[:, :-1]
    edited_codes, edited_actions = context.clone(), actions.clone()
    edited_codes[:, 1] = (edited_codes[:, 1] + 1) % CONFIG.tokenizer.codebook_size
    edited_actions[:, 2] += 1.0
    with torch.no_grad():
        before = model(context, actions)["logits"]
        after = model(edited_codes, edited_actions)["logits"]
        alone = model(context[:, 3:], actions[:, 3:])["logits"]  # frame 3 as a clip of one
    changed = (after - before).abs().amax(dim=(0, 2, 3, 4))  # per frame
    assert changed[1] > 1e-3 and changed[2] > 1e-3
    assert changed[0] < 1e-6 and changed[3] < 1e-6  # frame 3 no longer sees frames 1-2
    torch.testing.assert_close(alone[:, 0], before[:, 3], rtol=0, atol=1e-5)
