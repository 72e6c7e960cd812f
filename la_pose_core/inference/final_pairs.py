"""Each pair of a track at its final estimate, ``streaming.fixed_lag`` pairs late.

The streaming estimator revises a pair until ``fixed_lag`` later pairs have come
(:attr:`~la_pose_core.inference.estimator.StepResult.recent_motions`, README "Revised pairs").
:class:`FinalPairs` turns its step results into the stream a consumer of the revised trajectory
wants: every used frame once, in order, with the motion of the pair that ends at it, as that
motion stands once nothing will revise it again. That is the revised trajectory, ``fixed_lag``
frames late (1.5 s at L = 3 and 2 fps), never changed after it is given out.

- A track's first frame has no motion (``motion`` None): a track starts there.
- A track that ends (a new track starts: a gap, a stamp backwards) has its pairs not yet final
  given out at their latest estimates first, so nothing is lost; :meth:`flush` does the same
  when the stream ends.

Motions are ``cam_prev_from_cam_this`` ``(4, 4)`` in the camera optical frame (x right, y down,
z forward), as the estimator reports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from la_pose_core.inference.estimator import StepResult


@dataclass(frozen=True)
class FinalPair:
    """One used frame and the final motion of the pair that ends at it."""

    stamp: float  # the frame (s)
    previous_stamp: float | None  # the pair's earlier frame (s); None on a track's first frame
    motion: np.ndarray | None  # (4, 4) cam_prev_from_cam_this; None on a track's first frame


class FinalPairs:
    """Feed every :class:`StepResult` of one estimator (at the model's rate) in order; each
    :meth:`push` returns the frames whose pair became final with it (module docstring).

    Args:
        fixed_lag: the estimator's effective lag, ``LAPoseConfig.fixed_lag``; 0 gives out each
            frame as it comes.
    """

    def __init__(self, fixed_lag: int) -> None:
        if fixed_lag < 0:
            raise ValueError(f"fixed_lag must be >= 0, got {fixed_lag}")
        self.fixed_lag = fixed_lag
        self.reset()

    def reset(self) -> None:
        """Forget everything not yet given out (the stream starts over)."""
        self.track_stamps: list[float] = []  # the track's last used frames (s), newest last
        self.pending: list[FinalPair] = []  # pairs not yet final, at their latest, oldest first

    def push(self, result: StepResult) -> list[FinalPair]:
        """The frames made final by ``result`` (none, one, or a whole ended track's rest)."""
        if result.previous_stamp is None:  # a new track: the last one's pairs are final now
            final = self.flush()
            self.track_stamps = [result.stamp]
            return [*final, FinalPair(result.stamp, None, None)]
        self.track_stamps.append(result.stamp)
        del self.track_stamps[: -(self.fixed_lag + 2)]  # enough for the pairs still revised
        frames = self.track_stamps[-len(result.recent_motions) - 1 :]
        pairs = [
            FinalPair(frames[index + 1], frames[index], motion)
            for index, motion in enumerate(result.recent_motions)
        ]  # oldest first, this frame's last
        final = pairs[:1] if len(pairs) > self.fixed_lag else []
        self.pending = pairs[len(final) :]
        return final

    def flush(self) -> list[FinalPair]:
        """The pairs not yet final, at their latest estimates: the stream or the track ended."""
        final, self.pending = self.pending, []
        return final
