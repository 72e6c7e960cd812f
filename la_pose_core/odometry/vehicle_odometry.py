"""From per-pair camera motions to vehicle odometry with a covariance a filter can use.

The estimator (:class:`la_pose_core.inference.estimator.PoseEstimator`) reports, per used frame,
the camera motion ``cam_prev_from_cam_this`` in the camera optical frame. This module turns it
into the motion of ``base_link`` through the camera extrinsics (``geometry.frames``, the one
place where the two frames meet), chains it into ``odom_from_base``, and attaches covariances.

Frames: ``odom`` is ``base_link`` at the start of odometry; poses and covariances of the pose are
in ``odom``, twists and their covariances in ``base_link`` (as nav_msgs/Odometry specifies).
Covariances are 6x6 over ``(x, y, z, rot_x, rot_y, rot_z)``, m^2 and rad^2.

Covariance model (an explicit, tunable model, not a learned uncertainty): each pair adds an
isotropic translation variance ``sigma_t^2`` with ``sigma_t = max(fraction * |t|, floor)`` and a
rotation variance ``sigma_r^2`` per axis. Isotropic steps make the accumulated pose covariance
independent of heading, so it simply grows by the sum. The twist covariance is the step's,
divided by ``dt^2``. Whatever is unknown (the twist on the first frame of a track, the motion
during a gap that restarted tracking) gets ``unknown_variance``: large and finite, never NaN or
1e308, which break EKFs.

Camera-rate output (:mod:`la_pose_core.inference.camera_rate`): each frame's pair motion spans
one model interval and starts at an earlier frame than the last output, so the pose is not the
last pose times the motion. :meth:`VehicleOdometry.update_on_track` takes the estimator's
chained camera pose in its track instead (``odom_from_base = odom_from_track @ base_from_cam @
track_from_cam @ cam_from_base``), the covariance of the pair's earlier frame plus the pair's,
and the twist from the pair (the newest motion) over its interval.

Restarts: if tracking restarts after a gap (stamp moved forward too far), odometry continues from
the last pose and its covariance grows by ``unknown_variance`` (the motion during the gap is
unknown). If the stamp went backwards (a bag looped, a clock jumped), odometry starts over at the
identity with zero covariance.
"""

import bisect
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from la_pose_core.geometry import (
    BASE_FROM_OPTICAL,
    base_motion_from_camera_motion,
    pose_from_translation_quaternion,
)

COVARIANCE_HISTORY = 1024  # outputs whose covariance update_on_track keeps (34 s at 30 Hz)


@dataclass(frozen=True)
class CovarianceModel:
    translation_std_fraction: float = 0.05  # per-pair translation std / pair distance
    translation_std_floor_m: float = 0.02  # smallest per-pair translation std, metres
    rotation_std_rad: float = 0.005  # per-pair rotation std per axis, radians
    unknown_variance: float = 1.0e4  # variance of what is not known (m^2 or rad^2)

    def __post_init__(self) -> None:
        values = (
            self.translation_std_fraction,
            self.translation_std_floor_m,
            self.rotation_std_rad,
        )
        if min(values) < 0.0 or not 0.0 < self.unknown_variance < 1e12:
            raise ValueError(f"invalid covariance model {self}")

    def step_covariance(self, translation_m: np.ndarray) -> np.ndarray:
        """``(6, 6)`` covariance of one pair's motion of length ``|translation_m|``."""
        sigma_t = max(
            self.translation_std_fraction * float(np.linalg.norm(translation_m)),
            self.translation_std_floor_m,
        )
        return np.diag([sigma_t**2] * 3 + [self.rotation_std_rad**2] * 3)

    def unknown(self) -> np.ndarray:
        return np.eye(6) * self.unknown_variance


@dataclass(frozen=True)
class OdometryEstimate:
    """Odometry after one used frame (shapes in brackets)."""

    stamp: float
    odom_from_base: np.ndarray  # (4, 4)
    pose_covariance: np.ndarray  # (6, 6) in odom
    linear_velocity: np.ndarray  # (3,) m/s in base_link
    angular_velocity: np.ndarray  # (3,) rad/s in base_link
    twist_covariance: np.ndarray  # (6, 6) in base_link
    restarted: bool  # this frame started a new track (first frame, gap, or stamp backwards)
    started_over: bool  # odometry restarted at the identity (first frame, or stamp backwards)


@dataclass
class VehicleOdometry:
    """Chains camera motions into ``odom_from_base`` (see the module docstring)."""

    base_from_camera: np.ndarray = field(default_factory=lambda: BASE_FROM_OPTICAL.copy())
    covariance: CovarianceModel = field(default_factory=CovarianceModel)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start over: ``odom`` is ``base_link`` at the next frame."""
        self.odom_from_base = np.eye(4)
        self.pose_covariance = np.zeros((6, 6))
        self.last_stamp: float | None = None
        self.odom_from_track = np.eye(4)  # (4, 4) base_link at the track's first frame
        # (stamp, (6, 6) pose covariance) of the recent outputs of update_on_track
        self.covariances: deque[tuple[float, np.ndarray]] = deque(maxlen=COVARIANCE_HISTORY)

    def update(
        self,
        stamp: float,
        previous_stamp: float | None,
        translation: np.ndarray | None,
        quaternion: np.ndarray | None,
    ) -> OdometryEstimate:
        """Add one frame's camera motion ``cam_prev_from_cam_this`` (None on a track's first frame).

        Args:
            stamp, previous_stamp: seconds; ``previous_stamp`` None starts a new track.
            translation: ``(3,)`` metric translation in the previous camera's optical frame.
            quaternion: ``(4,)`` rotation ``(x, y, z, w)`` of the same motion.
        """
        if previous_stamp is None or translation is None or quaternion is None:
            return self._restart(stamp)
        dt, base_motion, step = self._pair_motion(stamp, previous_stamp, translation, quaternion)
        self.odom_from_base = self.odom_from_base @ base_motion
        self.pose_covariance = self.pose_covariance + step
        self.last_stamp = stamp
        return self._moving_estimate(stamp, base_motion, step, dt)

    def update_on_track(
        self,
        stamp: float,
        previous_stamp: float | None,
        translation: np.ndarray | None,
        quaternion: np.ndarray | None,
        track_from_cam: np.ndarray,
    ) -> OdometryEstimate:
        """Camera-rate odometry (module docstring): the pose from the estimator's chain.

        Args:
            stamp, previous_stamp: the pair's frames (s); ``previous_stamp`` None starts a new
                track. The earlier frame may be older than the last output.
            translation, quaternion: the pair's camera motion ``cam_prev_from_cam_this``.
            track_from_cam: ``(4, 4)`` this camera's pose in the track (its first camera).
        """
        if previous_stamp is None or translation is None or quaternion is None:
            estimate = self._restart(stamp)
            self.odom_from_track = self.odom_from_base.copy()
            self.covariances.clear()
            self.covariances.append((stamp, self.pose_covariance.copy()))
            return estimate
        dt, base_motion, step = self._pair_motion(stamp, previous_stamp, translation, quaternion)
        track_motion = base_motion_from_camera_motion(track_from_cam, self.base_from_camera)
        self.odom_from_base = self.odom_from_track @ track_motion
        self.pose_covariance = self._covariance_at(previous_stamp) + step
        self.covariances.append((stamp, self.pose_covariance.copy()))
        self.last_stamp = stamp
        return self._moving_estimate(stamp, base_motion, step, dt)

    def _pair_motion(
        self, stamp: float, previous_stamp: float, translation: np.ndarray, quaternion: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """The pair's interval (s), its ``(4, 4)`` motion in ``base_link`` and that motion's
        ``(6, 6)`` covariance."""
        dt = stamp - previous_stamp
        if dt <= 0.0:
            raise ValueError(f"pair stamps must increase, got {previous_stamp} -> {stamp}")
        camera_motion = pose_from_translation_quaternion(translation, quaternion)
        base_motion = base_motion_from_camera_motion(camera_motion, self.base_from_camera)
        return dt, base_motion, self.covariance.step_covariance(base_motion[:3, 3])

    def _covariance_at(self, stamp: float) -> np.ndarray:
        """Pose covariance of the newest output at or before ``stamp`` (the track's first if
        none)."""
        stamps = [recorded for recorded, _ in self.covariances]
        index = max(bisect.bisect_right(stamps, stamp) - 1, 0)
        return self.covariances[index][1]

    def _moving_estimate(
        self, stamp: float, base_motion: np.ndarray, step: np.ndarray, dt: float
    ) -> OdometryEstimate:
        """The estimate after a pair ``base_motion`` over ``dt`` s with covariance ``step``."""
        rotation_vector = Rotation.from_matrix(base_motion[:3, :3]).as_rotvec()
        return OdometryEstimate(
            stamp=stamp,
            odom_from_base=self.odom_from_base.copy(),
            pose_covariance=self.pose_covariance.copy(),
            linear_velocity=base_motion[:3, 3] / dt,
            angular_velocity=rotation_vector / dt,
            twist_covariance=step / dt**2,
            restarted=False,
            started_over=False,
        )

    def _restart(self, stamp: float) -> OdometryEstimate:
        started_over = self.last_stamp is None or stamp < self.last_stamp
        if started_over:  # first frame ever, or time went backwards
            self.reset()
        else:
            self.pose_covariance = self.pose_covariance + self.covariance.unknown()  # a gap
        self.last_stamp = stamp
        return OdometryEstimate(
            stamp=stamp,
            odom_from_base=self.odom_from_base.copy(),
            pose_covariance=self.pose_covariance.copy(),
            linear_velocity=np.zeros(3),
            angular_velocity=np.zeros(3),
            twist_covariance=self.covariance.unknown(),
            restarted=True,
            started_over=started_over,
        )
