"""Frame selection by stamp: target rate under jitter, duplicates, drops, time going backwards."""

import numpy as np

from la_pose_core.inference.frame_selector import FrameSelector, Selection


def selector() -> FrameSelector:
    return FrameSelector(target_fps=2.0, rate_tolerance=0.1, max_gap_s=1.5)


def test_a_jittery_10_hz_camera_is_thinned_to_about_2_fps():
    rng = np.random.default_rng(0)
    stamps = np.arange(0, 20, 0.1) + rng.uniform(-0.02, 0.02, 200)
    frames = selector()
    kept = [s for s in stamps if frames.select(s).kept]
    intervals = np.diff(kept)
    assert 0.45 <= intervals.min() and intervals.max() <= 0.65
    assert abs(len(kept) - 40) <= 4


def test_duplicates_are_skipped_and_backwards_or_gaps_restart():
    frames = selector()
    decisions = [frames.select(s) for s in (10.0, 10.0, 10.5, 10.5, 10.2, 10.7, 12.5)]
    assert decisions == [
        Selection.START,
        Selection.SKIP,  # duplicate
        Selection.KEEP,
        Selection.SKIP,  # duplicate
        Selection.RESET_BACKWARDS,
        Selection.KEEP,  # 0.5 s after the restart frame
        Selection.RESET_GAP,  # 1.8 s > 1.5 s
    ]
    assert all(d.restarts for d in (Selection.START, *decisions[4:5], decisions[6]))
    frames.reset()
    assert frames.select(0.0) is Selection.START
