"""Counters, rates and latency percentiles of the node, and their /diagnostics message; the
checks of a CameraInfo before its field of view is compared with the predicted one."""

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from la_pose_core.geometry import input_vertical_fov

# States reported on /diagnostics: the estimator's own (warming_up, tracking, reset, re-exported
# here for the node), the node's while active (waiting_for_images, paused) and, while it is not
# active, its lifecycle state's label (unconfigured, inactive, finalized).
from la_pose_core.inference.estimator import RESET, TRACKING, WARMING_UP  # noqa: F401
from la_pose_core.pose_autoencoder.refinement import TranslationRefiner

INACTIVE = "inactive"
WAITING = "waiting_for_images"
PAUSED = "paused"

LEVELS = {TRACKING: DiagnosticStatus.OK, WARMING_UP: DiagnosticStatus.OK}

CLEAR_ERROR_AFTER = 10  # good frames in a row after which last_error is cleared


def camera_info_problem(info) -> str | None:
    """Why a sensor_msgs/CameraInfo cannot give a field of view (a short, fixed reason per kind
    of defect), or None when it can."""
    k = np.asarray(info.k, dtype=float)
    if k.size != 9:
        return "K does not have 9 values"
    if not np.all(np.isfinite(k)):
        return "K is not finite (NaN or infinite)"
    if k[0] <= 0.0 or k[4] <= 0.0:
        return "K has a zero or negative focal length"
    if info.width <= 0 or info.height <= 0:
        return "the image size is zero"
    return None


def camera_info_vertical_fov(info, target_height: int, target_width: int) -> float | None:
    """Vertical FoV (rad) of the model input made from ``info``'s images; None when ``info``
    has a :func:`camera_info_problem` or gives no finite, positive FoV."""
    if camera_info_problem(info) is not None:
        return None
    fov = input_vertical_fov(info.k[4], info.height, info.width, target_height, target_width)
    return fov if math.isfinite(fov) and fov > 0.0 else None


def refinement_values(refiner: TranslationRefiner | None, checkpoint: str) -> dict[str, str]:
    """Diagnostics entries of test-time translation refinement: ``refinement`` is ``off`` or
    the refinement file's name; when on, also its ``k`` and mean cost per refined pair."""
    if refiner is None:
        return {"refinement": "off"}
    mean_ms = refiner.mean_ms  # read while the worker may update it: at worst a frame stale
    weight = refiner.mean_max_abs_weight
    return {
        "refinement": Path(checkpoint).name,
        "refinement_k": str(refiner.k),
        "refinement_pairs": str(refiner.calls),
        "refinement_ms_mean": "" if mean_ms is None else f"{mean_ms:.3f}",
        # far above 1: the affine weights extrapolate (raise refinement.ridge)
        "refinement_max_weight_mean": "" if weight is None else f"{weight:.3g}",
    }


class RateMeter:
    """Events per second over the last ``window_s`` seconds (monotonic clock)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self.times: deque[float] = deque()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.times.append(now)
        while self.times and now - self.times[0] > self.window_s:
            self.times.popleft()

    def rate(self) -> float:
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(self.times[-1] - self.times[0], 1e-9)


@dataclass
class NodeStatistics:
    """Thread-safe counters updated by the callbacks and the worker.

    Every frame delivered to the image callback (``received``) ends in exactly one of
    ``used``, ``skipped``, ``ignored``, ``dropped`` or ``rejected``; until then it is in flight
    (in the mailbox or in the worker), so ``received - handled`` is the frames in flight.
    Frames that never reached the callback are ``lost`` (gaps in the publisher's sequence
    numbers: DDS history or transport), so ``received + lost`` is what the camera published.
    ``holes`` counts the tracks restarted because frames were lost or dropped (not a new
    timeline: the odometry goes on from its last pose).

    ``last_error`` is the reason of the newest rejected frame; it is cleared by
    :meth:`clear_error` (the node's reset and resume) and once :data:`CLEAR_ERROR_AFTER` frames
    in a row were handled without error (:meth:`note_good`). Call :meth:`note_error` /
    :meth:`note_good` before counting the frame, so that a reader that sees no frame in flight
    sees its ``last_error`` too.
    """

    state: str = INACTIVE
    received: int = 0  # delivered to the image callback
    used: int = 0  # frames the estimator kept (at its target frame rate); each gave outputs
    skipped: int = 0  # not used by the estimator's frame-rate selection (came too early)
    ignored: int = 0  # arrived while paused
    dropped: int = 0  # replaced by a newer frame before the worker got to them
    lost: int = 0  # published but never delivered to the callback (sequence number gaps)
    holes: int = 0  # tracks restarted after a gap in which frames were lost or dropped
    rejected: int = 0  # malformed images and stamps off the timeline, logged and skipped
    bad_stamps: int = 0  # of the rejected: stamps off the track's timeline
    resets: int = 0
    last_error: str = ""
    good_streak: int = 0  # frames handled without error since the last error
    input_rate: RateMeter = field(default_factory=RateMeter)
    output_rate: RateMeter = field(default_factory=RateMeter)
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=500))
    step_times_ms: deque = field(default_factory=lambda: deque(maxlen=500))
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def handled(self) -> int:
        """Received frames that have left the node's pipeline, one way or another."""
        return self.used + self.skipped + self.ignored + self.dropped + self.rejected

    def note_error(self, reason: str) -> None:
        self.last_error = reason
        self.good_streak = 0

    def note_good(self) -> None:
        self.good_streak += 1
        if self.good_streak >= CLEAR_ERROR_AFTER:
            self.last_error = ""

    def clear_error(self) -> None:
        self.last_error = ""
        self.good_streak = 0

    def latency_percentiles(self) -> tuple[float, float]:
        with self.lock:
            values = np.array(self.latencies_ms)
        if values.size == 0:
            return 0.0, 0.0
        return float(np.percentile(values, 50)), float(np.percentile(values, 95))

    def to_message(
        self, stamp, node_name: str, extra: dict[str, str], state: str | None = None
    ) -> DiagnosticArray:
        """The /diagnostics message; ``state`` overrides :attr:`state` (the node's lifecycle
        state while it is not active)."""
        state = self.state if state is None else state
        p50, p95 = self.latency_percentiles()
        with self.lock:
            step = float(np.median(self.step_times_ms)) if self.step_times_ms else 0.0
            values = {
                "state": state,
                "input_rate_hz": f"{self.input_rate.rate():.2f}",
                "output_rate_hz": f"{self.output_rate.rate():.2f}",
                "latency_p50_ms": f"{p50:.1f}",
                "latency_p95_ms": f"{p95:.1f}",
                "estimator_step_p50_ms": f"{step:.1f}",
                "frames_received": str(self.received),
                "frames_used": str(self.used),
                "frames_skipped": str(self.skipped),
                "frames_ignored": str(self.ignored),
                "frames_dropped": str(self.dropped),
                "frames_rejected": str(self.rejected),
                "frames_lost": str(self.lost),
                "holes": str(self.holes),
                "frames_in_flight": str(self.received - self.handled),
                "stamps_rejected": str(self.bad_stamps),
                "resets": str(self.resets),
                "last_error": self.last_error,
                **extra,
            }
        status = DiagnosticStatus(
            level=LEVELS.get(state, DiagnosticStatus.WARN),
            name=f"{node_name}: camera odometry",
            hardware_id="camera",
            message=state,
            values=[KeyValue(key=key, value=value) for key, value in values.items()],
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = stamp
        return array
