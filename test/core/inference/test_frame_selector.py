"""Frame selection by stamp: target rate under jitter, duplicates, drops, time going backwards,
outlier stamps and new timelines."""

import numpy as np
import pytest

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


def test_the_kept_rate_is_the_target_whatever_the_camera_rate():
    """The schedule keeps the mean rate at 2 fps from a 30 Hz or 25 Hz camera (keeping the
    first frame 0.45 s after the last would give 2.14 and 2.08), never a pair under 0.45 s; a
    camera slower than the schedule's tolerance (3 Hz) gives every other frame."""
    rng = np.random.default_rng(1)
    for camera_hz in (30.0, 25.0):
        stamps = np.arange(0, 60, 1 / camera_hz) + rng.uniform(-0.003, 0.003, int(60 * camera_hz))
        frames = selector()
        kept = np.array([s for s in stamps if frames.select(s).kept])
        assert (len(kept) - 1) / (kept[-1] - kept[0]) == pytest.approx(2.0, rel=0.01)
        assert np.diff(kept).min() >= 0.45
    frames = selector()
    kept = [s for s in np.arange(0, 10, 1 / 3) if frames.select(s).kept]
    assert np.allclose(np.diff(kept), 2 / 3)


def test_duplicates_are_skipped_and_backwards_or_gaps_restart():
    frames = FrameSelector(target_fps=2.0, rate_tolerance=0.1, max_gap_s=1.5, confirm_frames=1)
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


def test_a_lone_outlier_stamp_is_rejected_and_the_track_goes_on():
    """One frame stamped far ahead (+1e6 s), at 0 or slightly out of order does not touch the
    track: it is an outlier, and the next frames on the old timeline continue it."""
    for outlier in (10.5 + 1e6, 0.0, 10.45):
        frames = selector()
        assert [frames.select(s) for s in (10.0, 10.5)] == [Selection.START, Selection.KEEP]
        decision = frames.select(outlier)
        assert decision is Selection.OUTLIER and not decision.kept and not decision.restarts
        assert (frames.last_kept, frames.last_seen) == (10.5, 10.5)
        assert [frames.select(s) for s in (10.6, 11.0, 11.5)] == [
            Selection.SKIP,
            Selection.KEEP,
            Selection.KEEP,
        ]


def test_a_new_timeline_restarts_tracking_once_it_persists():
    frames = selector()  # confirm_frames=3 by default
    for s in (10.0, 10.5, 11.0):
        frames.select(s)
    # a bag loop: three frames in a row consistent with each other, not with the track
    assert [frames.select(s) for s in (2.0, 2.1, 2.2, 2.3, 2.7)] == [
        Selection.OUTLIER,
        Selection.OUTLIER,
        Selection.RESET_BACKWARDS,  # the third frame of the new timeline begins the new track
        Selection.SKIP,
        Selection.KEEP,
    ]
    # a real gap (a camera that stopped for 5 s) restarts the same way
    assert [frames.select(s) for s in (7.7, 7.8, 7.9)] == [
        Selection.OUTLIER,
        Selection.OUTLIER,
        Selection.RESET_GAP,
    ]
    # outliers that are not consistent with each other never restart: each one starts over
    assert all(frames.select(s) is Selection.OUTLIER for s in (1e6, 0.0, 5e5, 1.0, 9e5))
    assert frames.select(8.4) is Selection.KEEP  # the track is still there


def test_decide_does_not_change_the_state():
    frames = selector()
    assert frames.decide(3.0) is Selection.START
    frames.select(3.0)
    for _ in range(5):
        assert frames.decide(0.0) is Selection.OUTLIER
    assert frames.select(0.0) is Selection.OUTLIER and frames.select(0.1) is Selection.OUTLIER
    assert frames.decide(0.2) is Selection.RESET_BACKWARDS
    assert frames.decide(3.5) is Selection.KEEP


def test_one_confirmation_frame_restarts_at_once():
    frames = FrameSelector(target_fps=2.0, rate_tolerance=0.1, max_gap_s=1.5, confirm_frames=1)
    frames.select(10.0)
    assert frames.select(5.0) is Selection.RESET_BACKWARDS
    assert frames.select(9.0) is Selection.RESET_GAP
