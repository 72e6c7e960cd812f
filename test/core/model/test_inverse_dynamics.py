"""Inverse dynamics: shapes, causality, dt conditioning, streaming = clip mode."""

import dataclasses

import pytest
import torch

from la_pose_core.model.config import get_config
from la_pose_core.model.inverse_dynamics import InverseDynamics, InverseDynamicsStream
from la_pose_core.model.lapose import LAPosePosttrainer

CONFIG = get_config("tiny")


def make_model(**changes) -> InverseDynamics:
    torch.manual_seed(0)
    config = CONFIG
    if changes:
        config = dataclasses.replace(
            CONFIG, inverse_dynamics=dataclasses.replace(CONFIG.inverse_dynamics, **changes)
        )
    return InverseDynamics(config).eval()


def clip(batch: int = 2, frames: int = CONFIG.clip_len) -> torch.Tensor:
    return torch.rand(batch, frames, 3, CONFIG.image_height, CONFIG.image_width)


def test_one_latent_action_and_bottleneck_code_per_pair():
    model = make_model()
    outputs = model(clip())
    pairs, dim = CONFIG.clip_len - 1, CONFIG.inverse_dynamics.dim
    assert outputs["latent_actions"].shape == (2, pairs, dim)
    assert outputs["bottleneck_codes"].shape == (2, pairs, 50)
    assert outputs["decoded_actions"].shape == (2, pairs, dim)
    rows, cols = CONFIG.patch_grid
    assert model.tokens_per_frame == rows * cols + 1


@pytest.mark.parametrize("changed", [1, 3, CONFIG.clip_len - 1])
def test_latent_actions_never_depend_on_later_frames(changed):
    """Changing frame t+1 leaves a_0..a_{t-1} unchanged and changes a_t."""
    model = make_model()
    frames = clip()
    edited = frames.clone()
    edited[:, changed] = torch.rand_like(edited[:, changed])
    with torch.no_grad():
        before = model(frames)["latent_actions"]
        after = model(edited)["latent_actions"]
    pair = changed - 1  # the pair (changed - 1, changed)
    torch.testing.assert_close(after[:, :pair], before[:, :pair], rtol=0, atol=1e-6)
    assert (after[:, pair] - before[:, pair]).abs().max() > 1e-3


def test_frame_interval_conditions_the_action_only_when_enabled():
    frames = clip()
    dt = torch.full((2, CONFIG.clip_len - 1), 0.5)
    slower = dt.clone()
    slower[:, 2] = 1.0
    with torch.no_grad():
        model = make_model()
        assert torch.equal(model(frames)["latent_actions"], model(frames, dt)["latent_actions"])
        changed = model(frames, slower)["latent_actions"] - model(frames, dt)["latent_actions"]
        assert changed[:, :2].abs().max() == 0  # earlier pairs cannot see a later interval
        assert changed[:, 2].abs().max() > 1e-4
        blind = make_model(condition_on_dt=False)
        assert torch.equal(
            blind(frames, dt)["latent_actions"], blind(frames, slower)["latent_actions"]
        )


def test_streaming_one_frame_at_a_time_equals_clip_mode():
    model = make_model()
    frames = clip()
    dt = torch.rand(2, CONFIG.clip_len - 1) * 0.75 + 0.25  # jittered 1-4 fps
    with torch.no_grad():
        expected = model(frames, dt)
    stream = InverseDynamicsStream(model)
    assert stream.push(frames[:, 0], None) is None
    steps = [stream.push(frames[:, t], dt[:, t - 1]) for t in range(1, CONFIG.clip_len)]
    for name in ("latent_actions", "bottleneck_codes"):
        streamed = torch.stack([step[name] for step in steps], dim=1)
        torch.testing.assert_close(streamed, expected[name], rtol=0, atol=1e-5)


def test_sliding_window_keeps_at_most_clip_len_frames_in_the_cache():
    model = make_model()
    stream = InverseDynamicsStream(model, max_frames=3)
    frames = clip(batch=1, frames=6)
    for t in range(6):
        stream.push(frames[:, t], None)
        assert all(cache.length == min(t + 1, 3) for cache in stream.caches)
    # Until the window slides, streaming equals clip mode over those frames.
    stream.reset()
    outputs = [stream.push(frames[:, t], None) for t in range(3)]
    with torch.no_grad():
        expected = model(frames[:, :3])["latent_actions"]
    torch.testing.assert_close(outputs[2]["latent_actions"], expected[:, 1], rtol=0, atol=1e-5)


def test_the_normalized_bottleneck_carries_the_action_at_unit_scale():
    """With std-0.02 weights the six bottleneck layers shrink the action to ~1e-6 of the
    forward dynamics tokens (pretraining then ignores it); normalised, it stays at unit scale."""
    with torch.no_grad():
        plain = make_model()(clip())
        normalized = make_model(normalized_bottleneck=True)(clip())
    assert float(plain["decoded_actions"].std()) < 1e-3
    assert float(normalized["bottleneck_codes"].std()) == pytest.approx(1.0, abs=0.05)
    assert 0.3 < float(normalized["decoded_actions"].std()) < 3.0


def test_batch_code_norm_keeps_only_what_differs_between_pairs():
    """A latent action is mostly one constant vector: a per-code LayerNorm keeps it (codes of
    different pairs nearly equal), the per-dimension batch norm removes it."""
    torch.manual_seed(0)
    frames = torch.rand(4, CONFIG.clip_len, 3, CONFIG.image_height, CONFIG.image_width)
    layer = make_model(normalized_bottleneck=True).train()
    batch = make_model(normalized_bottleneck=True, code_norm="batch").train()
    with torch.no_grad():
        layer_codes = layer(frames)["bottleneck_codes"].flatten(0, 1)  # (B (T-1), k)
        batch_codes = batch(frames)["bottleneck_codes"].flatten(0, 1)
    spread = lambda codes: float(codes.std(0).mean() / codes.pow(2).mean().sqrt())  # noqa: E731
    assert spread(layer_codes) < 0.5 and spread(batch_codes) > 0.95
    torch.testing.assert_close(
        batch_codes.mean(0), torch.zeros(CONFIG.inverse_dynamics.bottleneck_dim), atol=1e-5, rtol=0
    )
    # eval: running statistics, so a clip's codes do not depend on the rest of its batch
    batch.eval()
    with torch.no_grad():
        alone = batch(frames[:1])["bottleneck_codes"]
        together = batch(frames)["bottleneck_codes"][:1]
    torch.testing.assert_close(alone, together, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="code_norm"):
        make_model(normalized_bottleneck=True, code_norm="group")


def test_post_training_never_changes_the_bottleneck_statistics():
    config = dataclasses.replace(
        CONFIG,
        inverse_dynamics=dataclasses.replace(
            CONFIG.inverse_dynamics, normalized_bottleneck=True, code_norm="batch"
        ),
    )
    model = LAPosePosttrainer(config, freeze_backbone=False).train()
    assert model.inverse_dynamics.training and not model.inverse_dynamics.bottleneck.training
    model.freeze_backbone(False)
    assert not model.inverse_dynamics.bottleneck.training
