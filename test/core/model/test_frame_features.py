"""The frozen XFeat frame encoder and its motion features: shapes, frozen and out of
checkpoints, fingerprint check, the cost volume finds a shift, causal, streaming equal to clip
mode."""

import dataclasses

import numpy as np
import pytest
import torch

from la_pose_core.inference.estimator import PoseEstimator
from la_pose_core.model.checkpoint import load_checkpoint, save_checkpoint
from la_pose_core.model.config import get_config
from la_pose_core.model.frame_features import MotionFeatures, XFeatFeatures, xfeat_fingerprint
from la_pose_core.model.inverse_dynamics import InverseDynamics
from la_pose_core.model.lapose import LAPosePosttrainer
from la_pose_core.model.pose_head import PoseHead

TINY = get_config("tiny")
XFEAT_TINY = dataclasses.replace(  # 64x32 frames, one token per 8x8 XFeat cell
    TINY,
    inverse_dynamics=dataclasses.replace(
        TINY.inverse_dynamics, frame_encoder="xfeat", patch_size=8
    ),
)
XFEAT_MOTION_TINY = dataclasses.replace(  # the same with a cost volume of radius 2
    XFEAT_TINY,
    inverse_dynamics=dataclasses.replace(XFEAT_TINY.inverse_dynamics, correlation_radius=2),
)
XFEAT_PYRAMID_TINY = dataclasses.replace(  # and a second, 2x pooled level
    XFEAT_MOTION_TINY,
    inverse_dynamics=dataclasses.replace(XFEAT_MOTION_TINY.inverse_dynamics, correlation_levels=2),
)


def test_descriptors_are_unit_vectors_per_8x8_cell():
    descriptors = XFeatFeatures()(torch.rand(2, 3, 32, 64))
    assert descriptors.shape == (2, 64, 4, 8)
    np.testing.assert_allclose(descriptors.norm(dim=1).numpy(), 1.0, atol=1e-5)


def test_xfeat_stays_frozen_and_out_of_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = LAPosePosttrainer(XFEAT_TINY, freeze_backbone=False)  # fine-tuning the backbone
    names = [name for name, _ in model.named_parameters()]
    assert not any("frame_features" in name for name in names)
    state = model.state_dict()
    assert [k for k in state if "inverse_dynamics.frame_encoder" in k] == [
        "inverse_dynamics.frame_encoder_fingerprint"
    ]
    assert bytes(state["inverse_dynamics.frame_encoder_fingerprint"].tolist()).hex() == (
        xfeat_fingerprint()
    )
    path = save_checkpoint(tmp_path / "m.pt", model, XFEAT_TINY)
    loaded = load_checkpoint(path).modules["posttrainer"]
    frames = torch.rand(1, 3, 3, 32, 64)
    model.eval()
    torch.testing.assert_close(loaded(frames)["latent_actions"], model(frames)["latent_actions"])


def test_a_checkpoint_of_other_xfeat_weights_is_refused():
    model = InverseDynamics(XFEAT_TINY)
    state = model.state_dict()
    state["frame_encoder_fingerprint"] = torch.zeros_like(state["frame_encoder_fingerprint"])
    with pytest.raises(ValueError, match="trained on XFeat weights"):
        InverseDynamics(XFEAT_TINY).load_state_dict(state)


def test_xfeat_needs_a_patch_size_of_whole_cells():
    with pytest.raises(ValueError, match="multiple of 8"):
        dataclasses.replace(
            TINY, inverse_dynamics=dataclasses.replace(TINY.inverse_dynamics, frame_encoder="xfeat")
        )


def test_the_cost_volume_finds_a_shift_of_whole_cells():
    """current(y, x) = previous(y - 1, x + 2): correlation 1 at (dy, dx) = (-1, +2), flow there."""
    torch.manual_seed(0)
    previous = torch.nn.functional.normalize(torch.randn(1, 16, 8, 12), dim=1)  # (B, C, h, w)
    current = torch.roll(previous, shifts=(1, -2), dims=(2, 3))
    motion = MotionFeatures(radius=3)
    features = motion(current, previous)
    assert features.shape == (1, 7 * 7 + 2, 8, 12)
    interior = features[0, :, 2:-2, 3:-3]  # cells whose match lies inside the previous frame
    channel = (-1 + 3) * 7 + (2 + 3)
    assert interior[:49].argmax(dim=0).eq(channel).all()
    torch.testing.assert_close(interior[channel], torch.ones_like(interior[channel]))
    flow = interior[49:].mean(dim=(1, 2))  # (dx, dy) / radius
    torch.testing.assert_close(flow, torch.tensor([2 / 3, -1 / 3]), atol=0.02, rtol=0)
    assert motion(current, None).abs().max() == 0  # no previous frame: zeros


def test_a_coarser_level_finds_a_shift_beyond_the_radius():
    """A 6-cell shift is out of reach at radius 3; the 2x pooled level sees it as 3 cells."""
    torch.manual_seed(0)
    previous = torch.nn.functional.normalize(torch.randn(1, 16, 8, 24), dim=1)  # (B, C, h, w)
    current = torch.roll(previous, shifts=-6, dims=3)  # current(y, x) = previous(y, x + 6)
    motion = MotionFeatures(radius=3, levels=2)
    features = motion(current, previous)
    assert features.shape == (1, 2 * (7 * 7 + 2), 8, 24) and motion.channels == 102
    fine, coarse = features[0, :51, :, 2:12], features[0, 51:, :, 2:12]  # inside both frames
    assert fine[:49].max() < 0.9  # no fine displacement reaches 6 cells
    channel = 3 * 7 + (3 + 3)  # (dy, dx) = (0, +3) pooled cells
    assert coarse[:49].argmax(dim=0).eq(channel).all()
    torch.testing.assert_close(coarse[channel], torch.ones_like(coarse[channel]))
    torch.testing.assert_close(coarse[49], torch.ones_like(coarse[49]), atol=0.02, rtol=0)


def test_motion_features_need_xfeat():
    with pytest.raises(ValueError, match="correlation_radius"):
        dataclasses.replace(
            TINY,
            inverse_dynamics=dataclasses.replace(TINY.inverse_dynamics, correlation_radius=2),
        )


def test_motion_features_keep_latent_actions_causal():
    torch.manual_seed(0)
    model = InverseDynamics(XFEAT_MOTION_TINY).eval()
    frames = torch.rand(1, 5, 3, 32, 64)
    edited = frames.clone()
    edited[:, 3] = torch.rand_like(edited[:, 3])
    with torch.no_grad():
        before, after = model(frames)["latent_actions"], model(edited)["latent_actions"]
    torch.testing.assert_close(after[:, :2], before[:, :2], rtol=0, atol=1e-6)
    assert (after[:, 2] - before[:, 2]).abs().max() > 1e-3  # pair (2, 3) sees frame 3


@pytest.mark.parametrize(
    "config",
    [XFEAT_TINY, XFEAT_MOTION_TINY, XFEAT_PYRAMID_TINY],
    ids=["xfeat", "motion", "two_levels"],
)
def test_streaming_equals_clip_mode_with_xfeat(config):
    torch.manual_seed(0)
    estimator = PoseEstimator(InverseDynamics(config), PoseHead(config), config, device="cpu")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (50, 120, 3), dtype=np.uint8) for _ in range(4)]
    stamps = [100.0 + 0.5 * i for i in range(4)]
    results = [estimator.step(image, stamp) for image, stamp in zip(frames, stamps, strict=True)]
    clip = estimator.run_clip(frames, stamps)
    streamed = np.stack([r.latent for r in results[1:]])
    np.testing.assert_allclose(streamed, clip["bottleneck_codes"], rtol=0, atol=1e-4)


def test_a_backbone_grown_by_a_cost_volume_level_starts_with_the_old_latent_actions():
    """``grown_state_dict``: the new level's patch-embedding weights are zero, so the grown
    model gives the old latent actions until fine-tuning teaches it the longer reach."""
    from la_pose_core.model.inverse_dynamics import grown_state_dict

    torch.manual_seed(0)
    old = InverseDynamics(XFEAT_MOTION_TINY).eval()
    grown = InverseDynamics(XFEAT_PYRAMID_TINY).eval()
    grown.load_state_dict(grown_state_dict(old.state_dict(), grown))
    frames = torch.rand(2, TINY.clip_len, 3, TINY.image_height, TINY.image_width)
    with torch.no_grad():
        expected, found = old(frames)["latent_actions"], grown(frames)["latent_actions"]
        torch.testing.assert_close(found, expected, rtol=0, atol=1e-5)
        new_level = slice(old.patch_embed.weight.shape[1], None)
        grown.patch_embed.weight[:, new_level].normal_()  # now the new level reaches the tokens
        assert not torch.allclose(grown(frames)["latent_actions"], expected, atol=1e-3)
    state = grown.state_dict()
    assert grown_state_dict(state, grown) is state  # nothing to grow


def test_post_training_may_grow_the_backbone_by_levels_but_not_otherwise():
    from types import SimpleNamespace

    from la_pose_core.training.stages import get_stage

    stage = get_stage("posttrain")
    init = SimpleNamespace(config=XFEAT_MOTION_TINY, modules={"inverse_dynamics": None})
    assert stage.config_problems(XFEAT_PYRAMID_TINY, init) == []
    shrunk = SimpleNamespace(config=XFEAT_PYRAMID_TINY, modules={"inverse_dynamics": None})
    assert "inverse_dynamics" in stage.config_problems(XFEAT_MOTION_TINY, shrunk)[0]
    wider = dataclasses.replace(
        XFEAT_PYRAMID_TINY,
        inverse_dynamics=dataclasses.replace(
            XFEAT_PYRAMID_TINY.inverse_dynamics, depth=XFEAT_TINY.inverse_dynamics.depth + 1
        ),
    )
    assert "inverse_dynamics" in stage.config_problems(wider, init)[0]
