"""The recent reported camera poses of a track, by stamp, for chaining a new motion onto one.

Camera-rate output (:mod:`.camera_rate`) chains each pair's motion onto the pose reported for
the pair's earlier frame, so that its interleaved streams make one trajectory. That earlier
frame's pose was reported (exact lookup), or it was a frame whose motion was not known when it
came (the first frame of each stream during warm-up, a stream restarted after a drop): then its
pose is interpolated between the reported poses either side of it (rotation along the geodesic,
translation linearly, by time), which is constant velocity over at most one model interval.

Poses are ``world_from_cam`` ``(4, 4)`` in the track's world (its first camera; camera optical
frame: x right, y down, z forward).
"""

from __future__ import annotations

import bisect

import numpy as np
from scipy.spatial.transform import Rotation

from la_pose_core.geometry import make_pose


def interpolate_pose(before: np.ndarray, after: np.ndarray, fraction: float) -> np.ndarray:
    """``(4, 4)`` pose ``fraction`` (0: ``before``, 1: ``after``) of the way between two poses:
    the relative rotation scaled along its axis, the translation linearly."""
    relative = Rotation.from_matrix(before[:3, :3].T @ after[:3, :3]).as_rotvec()  # (3,)
    rotation = before[:3, :3] @ Rotation.from_rotvec(fraction * relative).as_matrix()
    translation = (1.0 - fraction) * before[:3, 3] + fraction * after[:3, 3]
    return make_pose(rotation, translation)


class PoseHistory:
    """Reported poses of one track, newest last, kept for ``horizon_s`` seconds.

    Stamps must increase (a track's frames); :meth:`clear` starts a new track. The newest pose
    older than the horizon stays, so a stamp just inside it can still be interpolated.
    """

    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self.stamps: list[float] = []
        self.poses: list[np.ndarray] = []  # (4, 4) each

    def __len__(self) -> int:
        return len(self.stamps)

    def clear(self) -> None:
        self.stamps, self.poses = [], []

    def add(self, stamp: float, world_from_cam: np.ndarray) -> None:
        """Record the pose reported for the frame at ``stamp`` (newer than every recorded)."""
        if self.stamps and stamp <= self.stamps[-1]:
            raise ValueError(f"stamps must increase: {self.stamps[-1]} then {stamp}")
        self.stamps.append(stamp)
        self.poses.append(world_from_cam.copy())
        while len(self.stamps) > 2 and self.stamps[1] < stamp - self.horizon_s:
            del self.stamps[0], self.poses[0]

    def at(self, stamp: float) -> np.ndarray | None:
        """The pose at ``stamp``: the reported one, else interpolated between the reported
        poses either side; None outside the recorded span."""
        index = bisect.bisect_left(self.stamps, stamp)
        if index < len(self.stamps) and self.stamps[index] == stamp:
            return self.poses[index].copy()
        if index == 0 or index == len(self.stamps):
            return None
        before, after = self.stamps[index - 1], self.stamps[index]
        fraction = (stamp - before) / (after - before)
        return interpolate_pose(self.poses[index - 1], self.poses[index], fraction)
