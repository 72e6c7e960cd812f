"""Learning-rate schedule, outlier filter, per-sample pose loss, config/options plumbing."""

import dataclasses
import itertools
import math
import random

import numpy as np
import pytest
import torch

from la_pose_core.geometry import make_pose
from la_pose_core.model.config import get_config
from la_pose_core.model.lapose import LAPosePosttrainer
from la_pose_core.model.targets import PoseTargets
from la_pose_core.training import OutlierFilter, TrainOptions
from la_pose_core.training.rng import capture_rng, restore_rng
from la_pose_core.training.schedule import default_warmup_steps, warmup_cosine

TINY = get_config("tiny")


def test_warmup_then_cosine_to_the_floor():
    ratios = [warmup_cosine(step, 100, 10, 0.1) for step in range(100)]
    assert ratios[0] == pytest.approx(0.1)  # (0 + 1) / 10: the first step is not wasted
    assert ratios[9] == pytest.approx(1.0) and ratios[10] == pytest.approx(1.0)
    assert all(a <= b for a, b in itertools.pairwise(ratios[:11]))
    assert all(a >= b for a, b in itertools.pairwise(ratios[10:]))
    assert ratios[-1] == pytest.approx(0.1)
    assert warmup_cosine(0, 5, 0, 0.0) == pytest.approx(1.0)
    assert default_warmup_steps(100) == 5 and default_warmup_steps(10**6) == 1000


def test_outlier_filter_drops_three_sigma_losses_once_warm():
    torch.manual_seed(0)
    window = OutlierFilter(window=64, sigma=3.0, min_samples=16)
    batch = torch.tensor([1.0, 1.1, 0.9, 50.0])
    assert math.isinf(window.threshold())  # not enough history: keep everything
    assert window.keep_mask(batch).all()
    window.update(batch, window.threshold())
    for _ in range(8):
        losses = 1.0 + 0.1 * torch.randn(4)
        window.update(losses, window.threshold())
    threshold = window.threshold()
    assert math.isfinite(threshold)
    batch = torch.tensor([1.0, 100.0, float("nan"), 1.2])
    keep = window.keep_mask(batch, threshold)
    assert keep.tolist() == [True, False, False, True]
    assert window.update(batch, threshold) == 2
    assert window.total_dropped == 2 and window.total_seen == 40
    assert len(window.losses) == 39  # the NaN never enters the window
    copy = OutlierFilter(window=64, sigma=3.0, min_samples=16)
    copy.load_state_dict(window.state_dict())
    assert copy.threshold() == pytest.approx(window.threshold())
    assert copy.total_dropped == 2


@pytest.mark.parametrize("learned_uncertainty", [False, True])
def test_per_sample_pose_loss_averages_to_the_model_loss(learned_uncertainty):
    torch.manual_seed(0)
    head = dataclasses.replace(
        TINY.pose_head, learned_uncertainty=learned_uncertainty, weight_fov=0.5
    )
    config = dataclasses.replace(TINY, pose_head=head)
    model = LAPosePosttrainer(config)
    if learned_uncertainty:
        with torch.no_grad():
            model.pose_loss.log_variances.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    rng = np.random.default_rng(0)
    poses = np.stack(
        [
            [make_pose(np.eye(3), rng.normal(0, 1, 3)) for _ in range(config.clip_len - 1)]
            for _ in range(3)
        ]
    )
    targets = PoseTargets.from_relative_poses(poses, fov=np.array([0.5, 0.7, 0.9]))
    frames = torch.rand(3, config.clip_len, 3, config.image_height, config.image_width)
    outputs = model(frames, targets=targets)
    losses = model.pose_loss.per_sample(outputs, targets)
    assert losses.shape == (3,)
    torch.testing.assert_close(losses.mean(), outputs["loss"], rtol=1e-6, atol=1e-6)


def test_options_round_trip_and_validation(tmp_path):
    options = TrainOptions(
        stage="posttrain", run_dir=str(tmp_path), data=["a"], config=TINY, lr=1e-3
    )
    again = TrainOptions.from_dict(options.to_dict())
    assert again == options
    with pytest.raises(ValueError, match="--steps must be at least 1"):
        dataclasses.replace(options, steps=0).validate()
    with pytest.raises(ValueError, match="--config"):
        dataclasses.replace(options, config=None).validate()
    with pytest.raises(ValueError, match="unknown stage"):
        dataclasses.replace(options, stage="finetune").validate()


def test_rng_states_survive_a_checkpoint_round_trip(tmp_path):
    state = capture_rng()
    path = tmp_path / "rng.pt"
    torch.save(state, path)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())  # noqa: NPY002
    restore_rng(torch.load(path, weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected  # noqa: NPY002
