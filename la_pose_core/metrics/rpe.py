"""KITTI-style relative pose error over path segments (the odometry benchmark's devkit).

For every start frame and every segment length L (metres of ground-truth path), the segment
ends at the first frame whose travelled distance exceeds the start's by L. The error of the
segment is ``inv(est_first_from_last) @ gt_first_from_last``; its translation norm divided by L
and its rotation angle divided by L are averaged over all segments. Reported as translation
percent and degrees per metre. The devkit starts a segment every 10 frames; we start one at
every frame (``step``), which uses short sequences fully.

Segment lengths: KITTI's 100, 200, ..., 800 m where the path is long enough. Trajectories
shorter than 100 m (such as the 80 m sample in ``shared/data``) use 25 %, 50 % and 75 % of
their path length instead; the lengths used are part of the result.
"""

from dataclasses import dataclass

import numpy as np

from la_pose_core.geometry import inverse, rotation_angle

KITTI_SEGMENT_LENGTHS_M = (100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0)
SHORT_PATH_FRACTIONS = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class RelativePoseError:
    translation_pct: float  # mean ||t_err|| / L * 100
    rotation_deg_per_m: float  # mean angle(R_err) / L, degrees per metre
    segment_lengths_m: tuple[float, ...]
    num_segments: int


def path_distances(world_from_cam: np.ndarray) -> np.ndarray:
    """``(N,)`` distance travelled along the trajectory up to each frame, metres."""
    steps = np.linalg.norm(np.diff(world_from_cam[:, :3, 3], axis=0), axis=1)  # (N - 1,)
    return np.concatenate([[0.0], np.cumsum(steps)])


def segment_lengths_for(path_length_m: float) -> tuple[float, ...]:
    """KITTI's segment lengths that fit the path, or fractions of a path shorter than 100 m."""
    fitting = tuple(length for length in KITTI_SEGMENT_LENGTHS_M if length <= path_length_m)
    if fitting:
        return fitting
    return tuple(round(path_length_m * fraction, 3) for fraction in SHORT_PATH_FRACTIONS)


def kitti_rpe(
    gt_world_from_cam: np.ndarray,
    est_world_from_cam: np.ndarray,
    segment_lengths_m: tuple[float, ...] | None = None,
    step: int = 1,
) -> RelativePoseError:
    """Relative pose error of a whole trajectory (metric: no alignment, no scale correction)."""
    gt = np.asarray(gt_world_from_cam, dtype=np.float64)
    est = np.asarray(est_world_from_cam, dtype=np.float64)
    if gt.shape != est.shape or gt.ndim != 3:
        raise ValueError(f"need two (N, 4, 4) trajectories, got {gt.shape} and {est.shape}")
    distances = path_distances(gt)  # (N,)
    lengths = segment_lengths_for(distances[-1]) if segment_lengths_m is None else segment_lengths_m

    translation_errors, rotation_errors = [], []
    for first in range(0, len(gt), step):
        for length in lengths:
            beyond = np.nonzero(distances > distances[first] + length)[0]
            if len(beyond) == 0 or length <= 0.0:
                continue
            last = beyond[0]
            gt_motion = inverse(gt[first]) @ gt[last]  # (4, 4) cam_first_from_cam_last
            est_motion = inverse(est[first]) @ est[last]
            error = inverse(est_motion) @ gt_motion
            translation_errors.append(np.linalg.norm(error[:3, 3]) / length)
            rotation_errors.append(rotation_angle(error[:3, :3]) / length)
    if not translation_errors:
        nan = float("nan")
        return RelativePoseError(nan, nan, tuple(lengths), 0)
    return RelativePoseError(
        translation_pct=float(np.mean(translation_errors) * 100.0),
        rotation_deg_per_m=float(np.degrees(np.mean(rotation_errors))),
        segment_lengths_m=tuple(lengths),
        num_segments=len(translation_errors),
    )
