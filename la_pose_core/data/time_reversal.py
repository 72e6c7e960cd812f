"""A time-reversed view of a whole sequence, for evaluating reversing on real footage.

Playing a recording backwards is real footage of the car driving backwards along the same
path: the camera still looks the way the car faced, so it now moves towards its back (``-z``
in the optical frame on a forward drive). The view's adjacent motions
``cam_i_from_cam_{i+1}`` are therefore the inverses of the forward ones, in reverse order
(conventions: :mod:`la_pose_core.geometry`). The clip sampler's ``reverse_prob`` does the same
for training clips; this view does it for a whole sequence, so that ``la-pose evaluate``-style
code (anything reading ``stamps``, ``image(i)``, ``world_from_cam``, ``intrinsics``) runs on it
unchanged.
"""

from __future__ import annotations

import numpy as np

from la_pose_core.data.clips import SequenceSource, source_name


class TimeReversedSequence:
    """Frame ``i`` of the view is frame ``N - 1 - i`` of ``source``.

    Attributes:
        source: the wrapped sequence (anything with ``stamps`` and ``image(i)``; optional
            ``world_from_cam``, ``intrinsics``, ``name``).
        stamps: ``(N,)`` seconds, increasing: the source's intervals played backwards, starting
            at the source's first stamp, ``stamps[i] = s[-1] - s[N - 1 - i] + s[0]``.
        world_from_cam: ``(N, 4, 4)`` the source's camera-to-world poses in reverse order, or
            None when the source has none.
        intrinsics: the source's (same camera), or None.
        name: the source's name (:func:`~la_pose_core.data.clips.source_name`) + ``"_reversed"``.

    The source's ``root`` (a ``KittiSequence``'s folder) is deliberately not passed through:
    code that read files from it would get them in forward order.
    """

    def __init__(self, source: SequenceSource):
        self.source = source
        forward_stamps = np.asarray(source.stamps, np.float64)  # (N,)
        if forward_stamps.ndim != 1 or len(forward_stamps) == 0:
            raise ValueError(f"need (N >= 1,) stamps, got shape {forward_stamps.shape}")
        self.stamps = forward_stamps[-1] - forward_stamps[::-1] + forward_stamps[0]  # (N,)
        forward_poses = getattr(source, "world_from_cam", None)
        self.world_from_cam = (
            None
            if forward_poses is None
            else np.asarray(forward_poses, np.float64)[::-1].copy()  # (N, 4, 4)
        )
        self.intrinsics = getattr(source, "intrinsics", None)
        self.name = source_name(source) + "_reversed"

    def __len__(self) -> int:
        return len(self.stamps)

    def source_index(self, index: int) -> int:
        """The source frame shown as frame ``index`` of the view (negative indices allowed)."""
        count = len(self.stamps)
        if not -count <= index < count:
            raise IndexError(f"frame {index} outside a sequence of {count}")
        return count - 1 - (index % count)

    def image(self, index: int) -> np.ndarray:
        return self.source.image(self.source_index(index))
