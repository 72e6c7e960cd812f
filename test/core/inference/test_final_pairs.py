"""FinalPairs: every used frame once, in order, with its pair's last estimate, fixed_lag late."""

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from la_pose_core.inference.estimator import PoseEstimator, keep_latest_motions
from la_pose_core.inference.final_pairs import FinalPairs
from la_pose_core.model.config import get_config
from la_pose_core.model.inverse_dynamics import InverseDynamics
from la_pose_core.model.pose_head import PoseHead

CONFIG = get_config("tiny")


def estimator_with_lag(lag: int) -> PoseEstimator:
    torch.manual_seed(0)
    estimator = PoseEstimator(InverseDynamics(CONFIG), PoseHead(CONFIG), CONFIG, device="cpu")
    estimator.set_streaming(dataclasses.replace(CONFIG.streaming, fixed_lag=lag))
    return estimator


def two_tracks() -> list[tuple[np.ndarray, float]]:
    """Nine frames at 2 fps, a 10-s gap (tracking restarts), then seven more."""
    rng = np.random.default_rng(0)
    stamps = [0.5 * i for i in range(9)] + [14.0 + 0.5 * i for i in range(7)]
    return [(rng.integers(0, 256, (50, 120, 3), dtype=np.uint8), s) for s in stamps]


@pytest.mark.parametrize("lag", [0, 2])
def test_every_used_frame_comes_once_in_order_with_its_pairs_last_estimate(lag):
    estimator = estimator_with_lag(lag)
    final_pairs = FinalPairs(estimator.config.fixed_lag)
    given, used, latest, tracks = [], [], [], []  # latest: keep_latest_motions per track
    for image, stamp in two_tracks():
        result = estimator.step(image, stamp)
        if result is None:
            continue
        if result.previous_stamp is None:
            tracks.append(latest := [])
        keep_latest_motions(latest, result)
        used.append(stamp)
        made_final = final_pairs.push(result)
        given += made_final
        if result.previous_stamp is not None and len(tracks) == 1 and len(latest) > lag:
            assert made_final[-1].stamp == used[-1 - lag]  # fixed_lag frames late
    given += final_pairs.flush()

    assert len(tracks) == 2  # the gap restarted tracking
    assert [pair.stamp for pair in given] == used
    starts = [index for index, pair in enumerate(given) if pair.motion is None]
    assert len(starts) == 2 and starts[0] == 0
    assert all(given[index].previous_stamp is None for index in starts)
    motions = [pair.motion for pair in given if pair.motion is not None]
    np.testing.assert_array_equal(np.stack(motions), np.stack(tracks[0] + tracks[1]))
    for before, pair in itertools.pairwise(given):
        if pair.motion is not None:
            assert pair.previous_stamp == before.stamp


def test_lag_zero_gives_each_frame_at_once_with_the_motion_reported():
    estimator, final_pairs = estimator_with_lag(0), FinalPairs(0)
    for image, stamp in two_tracks()[:5]:
        result = estimator.step(image, stamp)
        (pair,) = final_pairs.push(result)
        assert pair.stamp == stamp
        if result.previous_stamp is not None:
            np.testing.assert_array_equal(pair.motion, result.recent_motions[-1])
    assert final_pairs.flush() == []


def test_a_negative_lag_is_refused():
    with pytest.raises(ValueError, match="fixed_lag"):
        FinalPairs(-1)
