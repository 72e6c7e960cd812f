"""Exponential clip-length sampling: the distribution and the truncated labels."""

import numpy as np
import pytest
import torch

from la_pose_core.geometry import make_pose, normalize_translations
from la_pose_core.model.targets import PoseTargets
from la_pose_core.training.clip_length import (
    clip_length_probabilities,
    sample_clip_length,
    truncate_clips,
)


def test_longer_clips_are_more_likely_by_the_decay():
    probabilities = clip_length_probabilities(16, 2, 4.0)  # lengths 2..16
    assert probabilities.shape == (15,) and probabilities.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(probabilities[1:] / probabilities[:-1], np.exp(1 / 4.0))
    generator = torch.Generator().manual_seed(0)
    draws = np.array([sample_clip_length(16, 2, 4.0, generator) for _ in range(4000)])
    assert draws.min() >= 2 and draws.max() == 16
    observed = np.bincount(draws, minlength=17)[2:] / len(draws)
    np.testing.assert_allclose(observed, probabilities, atol=0.03)
    with pytest.raises(ValueError):
        clip_length_probabilities(6, 1, 4.0)
    with pytest.raises(ValueError):
        clip_length_probabilities(6, 2, 0.0)


def test_truncated_clips_have_the_labels_of_their_prefix():
    steps = np.array([1.0, 2.0, 3.0, 10.0, 20.0])  # metres forward per pair
    poses = make_pose(np.eye(3), np.stack([np.zeros(5), np.zeros(5), steps], axis=-1))
    batch = {
        "frames": torch.rand(2, 6, 3, 4, 8),
        "dt": torch.full((2, 5), 0.5),
        "stamps": torch.arange(6.0).repeat(2, 1),
        "relative_poses": torch.as_tensor(np.stack([poses, poses])),
        "fov": torch.full((2,), 0.6),
        "key": ["a", "b"],
    }
    cut = truncate_clips(batch, 3)
    assert cut["frames"].shape[1] == 3 and cut["stamps"].shape[1] == 3
    assert cut["dt"].shape[1] == 2 and cut["relative_poses"].shape[1] == 2
    expected, scale = normalize_translations(poses[:2, :3, 3])
    assert scale == pytest.approx(1.5)  # the prefix's own scale, not the clip's 7.2
    targets = PoseTargets.from_relative_poses(cut["relative_poses"], cut["fov"])
    np.testing.assert_allclose(targets.log_scale.exp(), [1.5, 1.5], rtol=1e-6)
    np.testing.assert_allclose(targets.translation_normalized[0], expected, atol=1e-6)
    assert cut["key"] == ["a", "b"] and torch.equal(cut["fov"], batch["fov"])
    with pytest.raises(ValueError):
        truncate_clips(batch, 7)
