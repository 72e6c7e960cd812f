"""Clip sampling by timestamp with jittered frame rates, time reversal and pose labels."""

import math

import numpy as np
import pytest

from la_pose_core.data import KittiSequence
from la_pose_core.data.clips import ClipSampler, make_clip
from la_pose_core.data.synthetic import SyntheticSequence
from la_pose_core.geometry import (
    chain_relative_poses,
    denormalize_translations,
    inverse,
    matrix_from_quaternion,
)
from la_pose_core.model.targets import PoseTargets
from test.core.data.helpers import TinySequence


@pytest.fixture(scope="module")
def kitti(kitti_sample):
    return KittiSequence(kitti_sample)


def test_clips_from_kitti_have_the_drawn_rate_and_exact_labels(kitti):
    sampler = ClipSampler()  # 16 frames, 1-4 fps, paper defaults
    rng = np.random.default_rng(0)
    tolerance = sampler.stamp_tolerance(kitti.stamps)
    assert 0.05 < tolerance < 0.07  # 0.6 x the ~0.104 s KITTI interval
    rates = []
    for clip in sampler.iter_clips(kitti, 20, rng, load_images=False):
        assert len(clip) == 16 and clip.source == kitti.root.name
        assert np.all(np.diff(clip.indices) > 0) and not clip.reversed
        assert 1.0 <= clip.fps <= 4.0
        # every frame is the nearest to a stamp of an exact fps grid
        grid = np.arange(16) / clip.fps
        offset = np.mean(clip.source_stamps - grid)
        assert np.abs(clip.source_stamps - grid - offset).max() <= tolerance + 1e-9
        assert clip.actual_fps == pytest.approx(clip.fps, rel=0.05)
        assert clip.stamps[0] == 0.0
        np.testing.assert_allclose(clip.dt, np.diff(clip.source_stamps))
        # chaining the labels rebuilds the ground-truth sub-trajectory
        truth = kitti.world_from_cam[clip.indices]
        np.testing.assert_allclose(clip.world_from_cam, truth)
        rebuilt = chain_relative_poses(clip.relative_poses, world_from_first=truth[0])
        np.testing.assert_allclose(rebuilt, truth, atol=1e-9)
        # the targets built from them (float32) give back the motions
        targets = PoseTargets.from_relative_poses(clip.relative_poses[None], clip.vertical_fov)
        scale = math.exp(float(targets.log_scale[0]))
        normalized = targets.translation_normalized[0].double().numpy()  # (P, 3)
        metric = denormalize_translations(normalized, scale)
        np.testing.assert_allclose(metric, clip.relative_poses[:, :3, 3], atol=1e-5)
        quaternion = targets.quaternion[0].double().numpy()  # (P, 4)
        np.testing.assert_allclose(
            matrix_from_quaternion(quaternion), clip.relative_poses[:, :3, :3], atol=1e-6
        )
        assert np.all(quaternion[:, 3] >= 0)
        assert scale == pytest.approx(
            np.linalg.norm(clip.relative_poses[:, :3, 3], axis=1).mean(), rel=1e-6
        )
        assert clip.vertical_fov == pytest.approx(kitti.intrinsics.vertical_fov)
        assert clip.image_size == (1241, 376)
        rates.append(clip.fps)
    # the 9 s sample only fits clips above ~1.6 fps; the rates still spread over the range
    assert min(rates) < 2.2 and max(rates) > 3.4


def test_reversed_clip_is_the_forward_clip_played_backwards(kitti):
    indices = np.arange(10, 80, 5)
    forward = make_clip(kitti, indices, fps=2.0)
    backward = make_clip(kitti, indices, fps=2.0, reverse=True)
    assert backward.reversed
    np.testing.assert_array_equal(backward.indices, indices[::-1])
    np.testing.assert_array_equal(backward.frames, forward.frames[::-1])
    assert backward.stamps[0] == 0.0 and np.all(backward.dt > 0)
    np.testing.assert_allclose(backward.dt, forward.dt[::-1])
    # relative poses: inverses in reverse order (computed from the reversed poses)
    np.testing.assert_allclose(
        backward.relative_poses, inverse(forward.relative_poses)[::-1], atol=1e-10
    )
    steps = [np.linalg.norm(c.relative_poses[:, :3, 3], axis=1) for c in (backward, forward)]
    assert steps[0].mean() == pytest.approx(steps[1].mean())  # the same clip scale
    # driving forward in the source = moving backwards (-z) in the reversed clip
    assert np.all(forward.relative_poses[:, 2, 3] > 0)
    assert np.all(backward.relative_poses[:, 2, 3] < 0)

    sampler = ClipSampler(reverse_prob=1.0)
    clip = sampler.sample(kitti, np.random.default_rng(1), load_images=False)
    assert clip.reversed and np.all(np.diff(clip.indices) < 0)


def test_sampling_is_deterministic_given_the_generator(kitti):
    sampler = ClipSampler(reverse_prob=0.5)
    a = [c.indices for c in sampler.iter_clips(kitti, 5, np.random.default_rng(3), False)]
    b = [c.indices for c in sampler.iter_clips(kitti, 5, np.random.default_rng(3), False)]
    c = [c.indices for c in sampler.iter_clips(kitti, 5, np.random.default_rng(4), False)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_exponential_rate_sampling_favours_short_intervals():
    uniform = ClipSampler()
    decaying = ClipSampler(fps_sampling="exponential", interval_decay_s=0.2)
    rng = np.random.default_rng(0)
    fps_uniform = np.array([uniform.draw_fps(rng) for _ in range(4000)])
    fps_decay = np.array([decaying.draw_fps(rng) for _ in range(4000)])
    assert fps_decay.min() >= 1.0 and fps_decay.max() <= 4.0
    assert abs(fps_uniform.mean() - 2.5) < 0.05
    intervals = 1.0 / fps_decay
    # density ~ exp(-dt / 0.2) on [0.25, 1]: half the draws fall below 0.25 + 0.2 ln 2
    assert np.mean(intervals < 0.25 + 0.2 * np.log(2)) == pytest.approx(0.5, abs=0.03)


def test_gaps_too_short_and_too_slow_sources_are_rejected():
    stamps = np.concatenate([np.arange(40) * 0.1, 8.0 + np.arange(40) * 0.1])  # 4 s gap
    source = TinySequence(stamps)
    sampler = ClipSampler(clip_len=4, min_fps=2.0, max_fps=4.0)
    for clip in sampler.iter_clips(source, 50, np.random.default_rng(0), load_images=False):
        assert np.all(clip.indices < 40) or np.all(clip.indices >= 40)
    with pytest.raises(ValueError, match="needs"):
        ClipSampler(clip_len=16).sample(TinySequence(np.arange(20) * 0.1), np.random.default_rng())
    with pytest.raises(ValueError, match="no valid"):  # rates above the 10 Hz source
        ClipSampler(clip_len=4, min_fps=20, max_fps=30).sample(source, np.random.default_rng())
    with pytest.raises(ValueError):
        ClipSampler(min_fps=3, max_fps=2)


def test_unlabelled_and_synthetic_sources():
    unlabelled = TinySequence(np.arange(50) * 0.1, with_poses=False)
    clip = ClipSampler(clip_len=5).sample(unlabelled, np.random.default_rng(0))
    assert clip.world_from_cam is None and clip.relative_poses is None
    assert clip.frames.shape == (5, 12, 16, 3)

    synthetic = SyntheticSequence(60, seed=1, size=(32, 16))
    clip = ClipSampler(clip_len=4).sample(synthetic, np.random.default_rng(0))
    assert clip.source == "synthetic-seed1" and clip.frames.shape == (4, 16, 32, 3)
    truth = synthetic.world_from_cam[clip.indices]
    np.testing.assert_allclose(
        chain_relative_poses(clip.relative_poses, truth[0]), truth, atol=1e-9
    )
