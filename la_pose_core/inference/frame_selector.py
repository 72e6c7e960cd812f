"""Choose which incoming frames the estimator uses, by stamp, to approach a target frame rate.

Cameras publish faster (and less regularly) than the model's frame rate (trained on 1-4 fps).
Kept frames follow a schedule of due times ``1 / target_fps`` apart, so that the mean rate is
the target's whatever the camera's: a frame is kept once it is at most ``rate_tolerance`` of an
interval before the next due time, and at least ``(1 - rate_tolerance) / target_fps`` after the
last kept frame (the shortest pair). Earlier frames and duplicates (same stamp) are skipped.
A frame kept within the tolerance of its due time moves the schedule on by one interval; one
kept later (the camera is slower than the target, or frames were missing) starts the schedule
again from itself. At 2 fps, 10 % and a 30 Hz camera the frames 0.467 s, 1.0 s, 1.467 s, ...
are kept: 2.00 per second, where keeping the first frame 0.45 s after the last (no schedule)
gives 2.14. Greedy, so no frame is ever delayed.

A frame is on the track's timeline when its stamp is not older than the newest stamp seen on it
and at most ``max_gap_s`` after the last kept frame. A frame off the timeline is an
``OUTLIER``: not used, and it leaves the track as it was, so that one implausible stamp (a
driver glitch: +1e6 s, an unset 0, one frame out of order) cannot restart tracking. Tracking
restarts only when the new timeline persists: ``confirm_frames`` frames in a row off the track's
timeline but consistent with each other (each newer than the one before, by at most
``max_gap_s``). The last of them begins the new track, as
    - ``RESET_BACKWARDS`` if it is older than the track (bag loop, clock reset);
    - ``RESET_GAP`` if it is newer, after more than ``max_gap_s`` (drops, pauses).
The frames before it on the new timeline stay outliers (they are not used). A frame back on the
track's timeline, or one inconsistent with the pending new timeline, interrupts the count.
``confirm_frames=1`` restarts on the first frame off the timeline.
"""

from __future__ import annotations

import enum


class Selection(enum.Enum):
    """What to do with a frame."""

    START = "start"  # first frame since construction/reset: kept, begins a track
    KEEP = "keep"  # kept, continues the track
    SKIP = "skip"  # not used (too soon after the last kept frame, or a duplicate)
    OUTLIER = "outlier"  # off the track's timeline: not used, the track is unchanged
    RESET_BACKWARDS = "reset_backwards"  # a persisting older timeline: kept, begins a new track
    RESET_GAP = "reset_gap"  # a persisting timeline after a gap: kept, begins a new track

    @property
    def kept(self) -> bool:
        return self not in (Selection.SKIP, Selection.OUTLIER)

    @property
    def restarts(self) -> bool:
        """The frame begins a new track (state must be cleared first, if any)."""
        return self in (Selection.START, Selection.RESET_BACKWARDS, Selection.RESET_GAP)


class FrameSelector:
    """Stamp-based frame selection (see module docstring).

    Args:
        target_fps: frame rate the model should see.
        rate_tolerance: fraction of the target interval a kept frame may come early.
        max_gap_s: longest interval between kept frames on one track (and between consecutive
            frames of a new timeline).
        confirm_frames: frames in a row a new timeline needs before tracking restarts on it.
    """

    last_kept: float | None  # stamp of the last kept frame of the track
    due: float | None  # when the next frame is due on the schedule
    last_seen: float | None  # newest stamp seen on the track's timeline, kept or not
    candidate: float | None  # newest stamp of the pending new timeline (outliers in a row)
    candidate_frames: int  # frames of the pending new timeline so far

    def __init__(
        self, target_fps: float, rate_tolerance: float, max_gap_s: float, confirm_frames: int = 3
    ) -> None:
        if confirm_frames < 1:
            raise ValueError(f"confirm_frames must be at least 1, got {confirm_frames}")
        self.interval = 1.0 / target_fps
        self.tolerance_s = rate_tolerance * self.interval
        self.min_interval = (1.0 - rate_tolerance) / target_fps  # the shortest pair
        self.max_gap_s = max_gap_s
        self.confirm_frames = confirm_frames
        self.reset()

    def reset(self) -> None:
        """Forget all stamps: the next frame starts a track."""
        self.last_kept = None
        self.due = None
        self.last_seen = None
        self.candidate = None
        self.candidate_frames = 0

    def on_timeline(self, stamp: float) -> bool:
        """``stamp`` can continue the track (True as well before the first frame)."""
        if self.last_kept is None:
            return True
        return stamp >= self.last_seen and stamp - self.last_kept <= self.max_gap_s

    def continues_candidate(self, stamp: float) -> bool:
        """``stamp`` extends the pending new timeline."""
        return self.candidate is not None and 0.0 < stamp - self.candidate <= self.max_gap_s

    def is_due(self, stamp: float) -> bool:
        """A frame at ``stamp`` on the track's timeline is kept (see the module docstring)."""
        return stamp >= self.due - self.tolerance_s and stamp - self.last_kept >= self.min_interval

    def decide(self, stamp: float) -> Selection:
        """What :meth:`select` would decide about ``stamp`` (seconds), without changing state."""
        if self.last_kept is None:
            return Selection.START
        if self.on_timeline(stamp):
            return Selection.KEEP if self.is_due(stamp) else Selection.SKIP
        frames = self.candidate_frames + 1 if self.continues_candidate(stamp) else 1
        if frames < self.confirm_frames:
            return Selection.OUTLIER
        return Selection.RESET_BACKWARDS if stamp < self.last_seen else Selection.RESET_GAP

    def select(self, stamp: float) -> Selection:
        """Decide about the frame with ``stamp`` (seconds) and update the state."""
        decision = self.decide(stamp)
        if decision is Selection.OUTLIER:
            self.candidate_frames = (
                self.candidate_frames + 1 if self.continues_candidate(stamp) else 1
            )
            self.candidate = stamp
            return decision
        self.candidate, self.candidate_frames = None, 0
        self.last_seen = stamp
        if decision.kept:
            on_time = not decision.restarts and stamp - self.due <= self.tolerance_s
            self.due = (self.due if on_time else stamp) + self.interval
            self.last_kept = stamp
        return decision
