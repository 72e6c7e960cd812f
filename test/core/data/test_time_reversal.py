"""The time-reversed view of a sequence: real footage of the car driving backwards."""

import numpy as np
import pytest

from la_pose_core.data import KittiSequence, TimeReversedSequence
from la_pose_core.data.clips import ClipSampler
from la_pose_core.geometry import adjacent_relative_poses, inverse
from test.core.data.helpers import TinySequence


@pytest.fixture(scope="module")
def kitti(kitti_sample):
    return KittiSequence(kitti_sample)


def test_stamps_play_the_same_intervals_backwards(kitti):
    view = TimeReversedSequence(kitti)
    assert len(view) == len(kitti) == 91
    assert np.all(np.diff(view.stamps) > 0)
    np.testing.assert_allclose(np.diff(view.stamps), np.diff(kitti.stamps)[::-1], atol=1e-12)
    assert view.stamps[0] == kitti.stamps[0]
    assert view.stamps[-1] == pytest.approx(kitti.stamps[-1], abs=1e-12)
    assert view.name == kitti.root.name + "_reversed"
    assert view.intrinsics == kitti.intrinsics
    assert not hasattr(view, "root")  # files under the source's root are in forward order


def test_frames_are_the_source_frames_backwards(kitti):
    view = TimeReversedSequence(kitti)
    np.testing.assert_array_equal(view.image(0), kitti.image(90))
    np.testing.assert_array_equal(view.image(90), kitti.image(0))
    np.testing.assert_array_equal(view.image(-1), kitti.image(0))
    with pytest.raises(IndexError):
        view.image(91)


def test_relative_poses_are_the_inverses_in_reverse_order(kitti):
    view = TimeReversedSequence(kitti)
    forward = adjacent_relative_poses(kitti.world_from_cam)  # (90, 4, 4)
    backward = adjacent_relative_poses(view.world_from_cam)  # (90, 4, 4)
    np.testing.assert_allclose(backward, inverse(forward)[::-1], atol=1e-9)
    # the car drives forward (+z) in the source, so the reversed camera moves backwards (-z)
    assert np.all(forward[:, 2, 3] > 0.5)
    assert np.all(backward[:, 2, 3] < -0.5)
    # the clip sampler takes the view like any sequence: every clip reverses
    clip = ClipSampler(clip_len=8).sample(view, np.random.default_rng(0), load_images=False)
    assert clip.source == view.name and not clip.reversed
    assert np.all(clip.relative_poses[:, 2, 3] < 0)


def test_double_reversal_gives_back_the_source(kitti):
    twice = TimeReversedSequence(TimeReversedSequence(kitti))
    np.testing.assert_array_equal(twice.world_from_cam, kitti.world_from_cam)
    np.testing.assert_allclose(twice.stamps, kitti.stamps, atol=1e-12)
    for index in (0, 37, 90):
        np.testing.assert_array_equal(twice.image(index), kitti.image(index))


def test_a_source_without_poses_stays_without_poses():
    source = TinySequence(np.arange(5) * 0.1, with_poses=False)
    view = TimeReversedSequence(source)
    assert view.world_from_cam is None and view.name == "tiny_reversed"
    np.testing.assert_array_equal(view.image(1), source.image(3))
