"""Choose which incoming frames the estimator uses, by stamp, to approach a target frame rate.

Cameras publish faster (and less regularly) than the model's frame rate (trained on 1-4 fps).
The selector keeps a frame once ``(1 - rate_tolerance) / target_fps`` seconds have passed since
the last kept one; earlier frames and duplicates (same stamp) are skipped. The tolerance absorbs
jitter: at 2 fps and 10 % a frame 0.46 s after the last kept one is kept rather than waiting a
whole camera period more. Greedy, so no frame is ever delayed.

It restarts tracking when time breaks:
    - a stamp older than the previous one (bag loop, clock reset): ``RESET_BACKWARDS``;
    - more than ``max_gap_s`` since the last kept frame (drops, pauses): ``RESET_GAP``.
The frame that triggers a restart is kept, as the first frame of the new track.
"""

from __future__ import annotations

import enum


class Selection(enum.Enum):
    """What to do with a frame."""

    START = "start"  # first frame since construction/reset: kept, begins a track
    KEEP = "keep"  # kept, continues the track
    SKIP = "skip"  # not used
    RESET_BACKWARDS = "reset_backwards"  # stamp went backwards: kept, begins a new track
    RESET_GAP = "reset_gap"  # too long since the last kept frame: kept, begins a new track

    @property
    def kept(self) -> bool:
        return self is not Selection.SKIP

    @property
    def restarts(self) -> bool:
        """The frame begins a new track (state must be cleared first, if any)."""
        return self in (Selection.START, Selection.RESET_BACKWARDS, Selection.RESET_GAP)


class FrameSelector:
    """Stamp-based frame selection (see module docstring).

    Args:
        target_fps: frame rate the model should see.
        rate_tolerance: fraction of the target interval a kept frame may come early.
        max_gap_s: longest interval between kept frames before tracking restarts.
    """

    last_kept: float | None  # stamp of the last kept frame
    last_seen: float | None  # stamp of the last frame seen, kept or not

    def __init__(self, target_fps: float, rate_tolerance: float, max_gap_s: float) -> None:
        self.min_interval = (1.0 - rate_tolerance) / target_fps
        self.max_gap_s = max_gap_s
        self.reset()

    def reset(self) -> None:
        """Forget all stamps: the next frame starts a track."""
        self.last_kept = None
        self.last_seen = None

    def select(self, stamp: float) -> Selection:
        """Decide about the frame with ``stamp`` (seconds) and update the state."""
        if self.last_seen is not None and stamp < self.last_seen:
            decision = Selection.RESET_BACKWARDS
        elif self.last_kept is None:
            decision = Selection.START
        elif stamp - self.last_kept > self.max_gap_s:
            decision = Selection.RESET_GAP
        elif stamp - self.last_kept < self.min_interval:
            decision = Selection.SKIP
        else:
            decision = Selection.KEEP
        self.last_seen = stamp
        if decision.kept:
            self.last_kept = stamp
        return decision
