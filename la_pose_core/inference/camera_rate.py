"""Odometry at camera rate, at the cost of one streaming step per camera frame.

The model must see frames at its trained rate (1-4 fps, ``streaming.target_fps`` = f), while a
state estimator wants 10-30 Hz. With a camera at C Hz, :class:`CameraRateEstimator` runs about
k = C / f interleaved streams, each a :meth:`PoseEstimator.fork` (its own frame selector,
``InverseDynamicsStream`` caches and window of latent actions; one shared model). Every camera
frame is one step of one stream and gives the motion from that stream's previous frame, about
1/f s earlier, to this one.

One trajectory, not k: each motion is chained onto the pose *reported* for the pair's earlier
frame (:class:`~la_pose_core.inference.pose_history.PoseHistory`), so the streams correct each
other's origin instead of drifting apart. Per frame:

1. the front selector (a :class:`FrameSelector` at ``output_rate.max_hz``, with the streaming
   tolerance and gap) keeps the track's timeline: a frame sooner than ``(1 - tolerance) /
   max_hz`` after the last one, a duplicate or an outlier stamp is not used; a new timeline that
   persists (backwards, or after a gap over ``streaming.max_gap_s``) restarts tracking, all
   streams cleared, exactly as the model-rate path does;
2. the frame goes to a stream by stamp, not by index: the stream whose last frame is closest to
   1/f old among those due (whose own frame selector would keep the frame: on its schedule of
   1/f, at least ``(1 - tolerance) / f`` and at most ``max_gap_s`` after its last frame). A
   dropped frame only makes one stream's next pair longer (e.g. 1 s instead of 0.5 s, still a
   trained rate). When no stream is due, a stream begins on the frame: one idle for over
   ``max_gap_s`` (reset), else a new fork, at most ``ceil(max_hz / f) + 1``;
3. that stream's :meth:`PoseEstimator.step` (frame selection, mirror averaging, epipolar yaw
   and refinement as configured; no revision of earlier pairs, ``streaming.fixed_lag``, which
   serves offline trajectories);
4. chaining: ``world_from_cam = pose(previous frame) @ cam_prev_from_cam_this``.

Warm-up (the first 1/f s of a track): the track's first frame is reported at the identity;
the next frames each begin a stream and are not reported (their motion is not known yet); from
1/f s on every frame is. A frame that began a stream was never reported, so the first pair of
that stream chains onto its pose interpolated between the reported poses either side (constant
velocity over at most one model interval); later pairs chain onto reported poses.

Result contract as :meth:`PoseEstimator.step`: None for an unused frame, else a
:class:`StepResult` whose pair fields describe the stream's pair (``previous_stamp`` about 1/f
s back, not the previous reported frame) and whose ``world_from_cam`` is the chained pose.
Poses are in the track's world (its first camera; camera optical frame: x right, y down, z
forward).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from la_pose_core.geometry import pose_from_translation_quaternion
from la_pose_core.inference.estimator import RESET, PoseEstimator, StepResult
from la_pose_core.inference.frame_selector import FrameSelector, Selection
from la_pose_core.inference.pose_history import PoseHistory
from la_pose_core.model.config import OutputRateConfig


class CameraRateEstimator:
    """Camera-rate streaming estimator over the modules of ``estimator`` (module docstring).

    Args:
        estimator: the model-rate estimator; its config (``streaming``), device, precision and
            refinement are used, its own track is not.
        output_rate: ``max_hz`` caps the frames used (``mode`` is not read here: see
            :func:`online_estimator`).
    """

    def __init__(self, estimator: PoseEstimator, output_rate: OutputRateConfig) -> None:
        self.base = estimator
        self.output_rate = output_rate
        streaming = estimator.config.streaming
        self.selector = FrameSelector(
            output_rate.max_hz, streaming.rate_tolerance, streaming.max_gap_s
        )
        self.model_interval_s = 1.0 / streaming.target_fps
        self.max_gap_s = streaming.max_gap_s
        self.max_streams = math.ceil(output_rate.max_hz / streaming.target_fps) + 1
        self.streams: list[PoseEstimator] = []
        self.poses = PoseHistory(horizon_s=self.max_gap_s + 2.0 * self.model_interval_s)

    # the estimator's interface, as the ROS pipeline and replay read it
    @property
    def config(self):
        return self.base.config

    @property
    def device(self) -> torch.device:
        return self.base.device

    @property
    def precision(self) -> str:
        return self.base.precision

    @property
    def refiner(self):
        return self.base.refiner

    def to(self, device: str | torch.device) -> CameraRateEstimator:
        """Move the shared modules; the track is forgotten (the streams are forked anew)."""
        self.base.to(device)
        self.reset()
        return self

    @property
    def camera_fov(self) -> float | None:
        return self.base.camera_fov

    def set_camera_fov(self, fov: float | None) -> None:
        """The camera's FoV (:meth:`PoseEstimator.set_camera_fov`) for every stream."""
        self.base.set_camera_fov(fov)
        for stream in self.streams:
            stream.set_camera_fov(fov)

    def reset(self) -> None:
        """Forget the track: the next frame starts a new one at the identity pose."""
        self.selector.reset()
        self._clear_track()

    def _clear_track(self) -> None:
        self.streams = []
        self.poses.clear()

    def step(self, image: np.ndarray, stamp: float) -> StepResult | None:
        """Process one camera image (uint8 ``(H, W)`` or ``(H, W, 3)``, stamp in seconds).

        Returns None if the frame is not used (over the rate cap, a duplicate, an outlier
        stamp: ``self.selector`` tells which) or not reported (it began a stream, or its
        earlier frame's pose is unknown); otherwise the chained :class:`StepResult`.
        """
        selection = self.selector.select(stamp)
        if not selection.kept:
            return None
        if selection.restarts:
            self._clear_track()
        stream = self._stream_for(stamp)
        if stream is None:  # every stream began less than a model interval ago
            return None
        result = stream.step(image, stamp)
        if result is None:  # cannot happen for a due stream; kept for safety
            return None
        return self._chain(result, selection)

    def _stream_for(self, stamp: float) -> PoseEstimator | None:
        """The due stream whose last frame is closest to one model interval before ``stamp``;
        if none is due, a stream to begin on this frame."""
        due = [
            stream
            for stream in self.streams
            if stream.previous_stamp is not None and stream.selector.decide(stamp) is Selection.KEEP
        ]
        if due:
            return min(due, key=lambda s: abs(stamp - s.previous_stamp - self.model_interval_s))
        return self._idle_stream(stamp)

    def _idle_stream(self, stamp: float) -> PoseEstimator | None:
        """A stream to begin at ``stamp``: one without a frame for over ``max_gap_s`` (reset),
        else a new fork while there are fewer than ``max_streams``, else None."""
        for stream in self.streams:
            if stream.previous_stamp is None or stamp - stream.previous_stamp > self.max_gap_s:
                stream.reset()
                return stream
        if len(self.streams) < self.max_streams:
            self.streams.append(self._new_stream())
            return self.streams[-1]
        return None

    def _new_stream(self) -> PoseEstimator:
        """A fork of the model-rate estimator that revises no pair: each is chained here once,
        when it is its stream's newest."""
        stream = self.base.fork()
        stream.set_streaming(dataclasses.replace(stream.config.streaming, fixed_lag=0))
        return stream

    def _chain(self, result: StepResult, selection: Selection) -> StepResult | None:
        """``result`` with its pose chained onto the reported pose of its earlier frame."""
        if result.translation is None:  # the stream's first frame: no motion yet
            return None if len(self.poses) else self._begin_track(result, selection)
        previous = self.poses.at(result.previous_stamp)
        if previous is None:  # nothing reported around it (not in the poses' span)
            return None
        motion = pose_from_translation_quaternion(result.translation, result.quaternion)
        world_from_cam = previous @ motion  # (4, 4)
        self.poses.add(result.stamp, world_from_cam)
        return dataclasses.replace(result, world_from_cam=world_from_cam)

    def _begin_track(self, result: StepResult, selection: Selection) -> StepResult:
        """The track's first frame: reported at the identity (``reset`` after a restart)."""
        self.poses.add(result.stamp, np.eye(4))
        restarted = selection in (Selection.RESET_BACKWARDS, Selection.RESET_GAP)
        return dataclasses.replace(
            result, state=RESET if restarted else result.state, world_from_cam=np.eye(4)
        )


def online_estimator(
    estimator: PoseEstimator, output_rate: OutputRateConfig
) -> PoseEstimator | CameraRateEstimator:
    """The streaming estimator for ``output_rate.mode``: ``estimator`` itself (``model``) or a
    :class:`CameraRateEstimator` over its modules (``camera``)."""
    if output_rate.mode == "camera":
        return CameraRateEstimator(estimator, output_rate)
    return estimator
