"""One evaluation pass over a sequence: the model streamed, the baselines on the frames it used.

The model runs through the streaming :class:`~la_pose_core.inference.estimator.PoseEstimator`
(the deployed inference path): every image of the sequence is offered with its stamp, in
order, and the estimator's frame selector decides which are used. Its per-pair motions, each
pair's last estimate (``streaming.fixed_lag`` revises a pair while later pairs come), are
chained into a trajectory of the used frames (a tracking restart, which a gap over
``streaming.max_gap_s`` causes, contributes an identity motion and is counted). The baselines
(:mod:`la_pose_core.evaluation.baselines`) then run on exactly those used frames, so every
method is evaluated against the same ground truth. A frame whose image cannot be read (a
corrupt or truncated file: ``image(i)`` raises ``ValueError`` or ``OSError``) is skipped, as
the node skips a malformed image: never offered, so never used by any method; one warning line
on stderr per such frame, and they are counted (``SequenceRun.unreadable``).

``la_pose``                          the model (metric scale from its own scale head), each
                                     pair's last estimate;
``la_pose_first_reported``           with ``streaming.fixed_lag`` > 0 only: the model's pairs
                                     as first reported, the pose the node publishes live;
``opencv_vo_gt_scale``               classical monocular OpenCV VO; step lengths from ground
                                     truth: **metric only with GT scale**;
``constant_velocity_gt_first_pair``  the first pair's ground-truth motion, repeated.

Used by ``la-pose evaluate`` and the accuracy benchmarks.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from la_pose_core.evaluation.baselines import BASELINES, run_baselines
from la_pose_core.geometry import chain_relative_poses
from la_pose_core.inference.estimator import keep_latest_motions
from la_pose_core.inference.road_step import RoadPlane

LA_POSE = "la_pose"
LA_POSE_FIRST_REPORTED = "la_pose_first_reported"


@dataclass
class SequenceRun:
    """What one pass over a sequence produced (trajectories over the used frames)."""

    used: list[int]
    stamps: np.ndarray  # (N,) stamps of the used frames
    ground_truth: np.ndarray  # (N, 4, 4)
    estimates: dict[str, np.ndarray]  # name -> (N, 4, 4)
    frames_read: int
    details: dict = field(default_factory=dict)
    unreadable: list[int] = field(default_factory=list)  # indices of the skipped frames


@dataclass
class _ModelPass:
    """What the streaming estimator gave for the offered frames."""

    used: list[int] = field(default_factory=list)  # indices of the frames it used
    motions: list[np.ndarray] = field(default_factory=list)  # (4, 4) per pair of used frames
    first_reported: list[np.ndarray] = field(default_factory=list)  # (4, 4) as first reported
    scales: list[float] = field(default_factory=list)  # predicted metric scale per tracked pair
    fovs: list[float] = field(default_factory=list)  # predicted vertical fov (rad) per pair
    step_seconds: list[float] = field(default_factory=list)  # time of each used frame's step
    resets: int = 0  # tracking restarts (identity motions)
    unreadable: list[int] = field(default_factory=list)  # frames whose image did not read


def start_track(estimator, sequence) -> None:
    """Reset ``estimator`` and tell it ``sequence``'s camera: its intrinsics (``intrinsics``),
    and its mounting above the road where the sequence knows it (``base_from_camera``: the
    synthetic drives; a benchmark may set it for a recording whose setup it knows)."""
    estimator.reset()
    estimator.set_camera_intrinsics(getattr(sequence, "intrinsics", None))
    mounting = getattr(sequence, "base_from_camera", None)
    estimator.set_road_plane(
        None if mounting is None else RoadPlane.from_base_from_camera(mounting)
    )


def _stream_model(estimator, sequence, count: int, progress: bool) -> _ModelPass:
    """Offer the first ``count`` frames to the estimator, in order; keep what it used. An
    image that does not read is skipped with a warning (and listed in ``unreadable``)."""
    from tqdm import tqdm

    start_track(estimator, sequence)
    model = _ModelPass()
    for index in tqdm(
        range(count), desc="frames", unit="frame", file=sys.stderr, disable=not progress
    ):
        stamp = float(sequence.stamps[index])
        try:
            image = sequence.image(index)
        except (ValueError, OSError) as error:
            model.unreadable.append(index)
            tqdm.write(f"warning: frame {index} skipped: {error}", file=sys.stderr)
            continue
        start = time.perf_counter()
        result = estimator.step(image, stamp)
        elapsed = time.perf_counter() - start
        if result is None:
            continue
        model.step_seconds.append(elapsed)
        if model.used:
            if result.translation is None:  # tracking restarted: no motion for this pair
                model.resets += 1
                model.motions.append(np.eye(4))
                model.first_reported.append(np.eye(4))
            else:
                keep_latest_motions(model.motions, result)
                model.first_reported.append(result.recent_motions[-1])
                model.scales.append(result.scale)
                model.fovs.append(result.fov)
        model.used.append(index)
    return model


def _model_details(estimator, model: _ModelPass) -> dict:
    """The model's entry of ``details`` in metrics.json: refinement, resets, scale, fov, speed."""
    refiner = getattr(estimator, "refiner", None)
    return {
        "refinement": None
        if refiner is None
        else {
            "k": refiner.k,
            "ridge": refiner.ridge,
            "bank_size": len(refiner.bank),
            "ms_per_pair": refiner.mean_ms,
            "mean_max_abs_weight": refiner.mean_max_abs_weight,
        },
        "resets": model.resets,
        "mean_predicted_scale_m": float(np.mean(model.scales)) if model.scales else None,
        "mean_predicted_fov_deg": math.degrees(float(np.mean(model.fovs))) if model.fovs else None,
        # median: the first steps pay one-time set-up (allocations, lazy copies)
        "ms_per_used_frame": 1000.0 * float(np.median(model.step_seconds)),
    }


def run_sequence(
    estimator,
    sequence,
    max_frames: int | None = None,
    baselines: tuple[str, ...] | list[str] = BASELINES,
    vo_features: str = "klt",
    progress: bool = False,
) -> SequenceRun:
    """Stream ``sequence`` through ``estimator`` and the baselines (see module docstring).

    Args:
        estimator: a :class:`~la_pose_core.inference.estimator.PoseEstimator` (reset first).
        sequence: a ``KittiSequence`` (or anything with ``stamps``, ``image(i)``,
            ``world_from_cam``, ``intrinsics``).
        max_frames: offer only the first N frames.
    """
    if sequence.world_from_cam is None:
        raise ValueError("the sequence has no ground truth (poses.txt)")
    count = len(sequence.stamps) if max_frames is None else min(max_frames, len(sequence.stamps))
    model = _stream_model(estimator, sequence, count, progress)
    used = model.used
    if count - len(model.unreadable) < 2:
        raise ValueError(
            f"{len(model.unreadable)} of {count} frames are unreadable images: fewer than 2 "
            "left to evaluate"
        )
    if len(used) < 2:
        raise ValueError(
            f"the estimator used {len(used)} of {count} frames: need at least 2 (more frames, "
            "or a higher --fps)"
        )
    stamps = np.asarray(sequence.stamps, np.float64)[used]  # (N,)
    ground_truth = np.asarray(sequence.world_from_cam, np.float64)[used]  # (N, 4, 4)
    estimates = {LA_POSE: chain_relative_poses(np.stack(model.motions))}
    if estimator.config.fixed_lag > 0:
        estimates[LA_POSE_FIRST_REPORTED] = chain_relative_poses(np.stack(model.first_reported))
    details = {LA_POSE: _model_details(estimator, model)}
    baseline_estimates, baseline_details = run_baselines(
        sequence, used, ground_truth, stamps, baselines, vo_features
    )
    estimates.update(baseline_estimates)
    details.update(baseline_details)
    return SequenceRun(used, stamps, ground_truth, estimates, count, details, model.unreadable)
