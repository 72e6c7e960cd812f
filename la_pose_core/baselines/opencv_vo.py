"""Classical monocular visual odometry with OpenCV: the textbook two-view pipeline.

For each pair of consecutive (used) frames:

1. correspondences: Shi-Tomasi corners tracked by pyramidal Lucas-Kanade with a forward-backward
   check (``features="klt"``, default), or ORB descriptors matched with a ratio test
   (``features="orb"``);
2. ``cv2.findEssentialMat`` (RANSAC) with the sequence intrinsics, then ``cv2.recoverPose``
   (cheirality) gives ``R, t`` with ``x_cur = R x_prev + t`` and ``|t| = 1``;
3. the pair motion in the project convention is ``cam_prev_from_cam_cur = inv([R | t])``
   (camera optical frame, ``la_pose_core.geometry``).

Monocular two-view geometry has no scale: the caller gives each pair's step length, which in an
evaluation is the **ground-truth** distance between the two camera centres. So this baseline is
"metric only with GT scale": its rotation and translation *direction* are its own (AUC, ATE-S
are fair comparisons), its metric numbers (ATE-M, RPE) borrow the ground truth's scale.

When a pair fails (too few correspondences or inliers), the previous pair's motion is repeated
(direction and rotation, at the new step length) and the failure is counted. When the image
barely moves (median flow under ``min_flow_px``) the rotation is taken as identity (counted as
still).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from la_pose_core.geometry import make_pose

FEATURES = ("klt", "orb")


@dataclass
class VOStats:
    pairs: int = 0
    failures: int = 0
    still: int = 0
    mean_inliers: float = 0.0

    def to_dict(self) -> dict:
        return {
            "pairs": self.pairs,
            "failures": self.failures,
            "still": self.still,
            "mean_inliers": self.mean_inliers,
        }


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W)`` or RGB ``(H, W, 3)`` -> uint8 ``(H, W)``."""
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return image


class MonocularVO:
    """Frame-to-frame monocular VO (see module docstring).

    Args:
        camera_matrix: ``(3, 3)`` intrinsics K of the images it will get.
        features: ``"klt"`` or ``"orb"``.
        max_features: corners / keypoints per frame.
        ransac_threshold_px: RANSAC inlier distance for the essential matrix (pixels).
        min_inliers: fewer cheirality inliers than this is a failure.
        min_flow_px: median image motion below which the pair counts as still.
    """

    def __init__(
        self,
        camera_matrix: np.ndarray,
        features: str = "klt",
        max_features: int = 2000,
        ransac_threshold_px: float = 1.0,
        min_inliers: int = 15,
        min_flow_px: float = 0.5,
    ) -> None:
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
        self.camera_matrix = np.asarray(camera_matrix, dtype=np.float64)
        self.features = features
        self.max_features = max_features
        self.ransac_threshold_px = ransac_threshold_px
        self.min_inliers = min_inliers
        self.min_flow_px = min_flow_px
        self._orb = cv2.ORB_create(nfeatures=max_features) if features == "orb" else None
        self.stats = VOStats()
        self._inlier_total = 0
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (and the last motion used for failures)."""
        self.previous: np.ndarray | None = None
        self.last_rotation = np.eye(3)
        self.last_direction = np.array([0.0, 0.0, 1.0])

    # correspondences ------------------------------------------------------------------------

    def _klt(self, previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        corners = cv2.goodFeaturesToTrack(
            previous, maxCorners=self.max_features, qualityLevel=0.01, minDistance=8, blockSize=7
        )
        if corners is None or len(corners) < 8:
            return np.empty((0, 2)), np.empty((0, 2))
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 0.01)
        options = {"winSize": (21, 21), "maxLevel": 4, "criteria": criteria}
        tracked, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, corners, None, **options)
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(current, previous, tracked, None, **options)
        round_trip = np.linalg.norm((corners - back).reshape(-1, 2), axis=1)
        good = (status.ravel() == 1) & (status_back.ravel() == 1) & (round_trip < 1.0)
        return corners.reshape(-1, 2)[good], tracked.reshape(-1, 2)[good]

    def _orb_matches(
        self, previous: np.ndarray, current: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        keys0, descriptors0 = self._orb.detectAndCompute(previous, None)
        keys1, descriptors1 = self._orb.detectAndCompute(current, None)
        if descriptors0 is None or descriptors1 is None or len(keys0) < 8 or len(keys1) < 8:
            return np.empty((0, 2)), np.empty((0, 2))
        matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        pairs = matcher.knnMatch(descriptors0, descriptors1, k=2)
        good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < 0.75 * m[1].distance]
        points0 = np.array([keys0[m.queryIdx].pt for m in good], dtype=np.float64).reshape(-1, 2)
        points1 = np.array([keys1[m.trainIdx].pt for m in good], dtype=np.float64).reshape(-1, 2)
        return points0, points1

    def correspondences(
        self, previous: np.ndarray, current: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Matched pixel positions ``(M, 2)`` in the previous and the current image."""
        if self.features == "klt":
            return self._klt(previous, current)
        return self._orb_matches(previous, current)

    # geometry -------------------------------------------------------------------------------

    def _fallback(self, step_length: float) -> np.ndarray:
        self.stats.failures += 1
        return make_pose(self.last_rotation, self.last_direction * step_length)

    def estimate(self, points0: np.ndarray, points1: np.ndarray, step_length: float) -> np.ndarray:
        """``cam_prev_from_cam_cur`` (4x4) of one pair from its correspondences."""
        self.stats.pairs += 1
        if len(points0) < 8:
            return self._fallback(step_length)
        flow = np.median(np.linalg.norm(points1 - points0, axis=1))
        if flow < self.min_flow_px:
            self.stats.still += 1
            return make_pose(np.eye(3), self.last_direction * step_length)
        points0 = np.ascontiguousarray(points0, dtype=np.float64)
        points1 = np.ascontiguousarray(points1, dtype=np.float64)
        essential, mask = cv2.findEssentialMat(
            points0,
            points1,
            self.camera_matrix,
            method=cv2.RANSAC,
            prob=0.999,
            threshold=self.ransac_threshold_px,
        )
        if essential is None or essential.shape[0] < 3:
            return self._fallback(step_length)
        inliers, rotation, translation, _ = cv2.recoverPose(
            essential[:3], points0, points1, self.camera_matrix, mask=mask
        )
        if inliers < self.min_inliers:
            return self._fallback(step_length)
        self._inlier_total += int(inliers)
        succeeded = self.stats.pairs - self.stats.failures - self.stats.still
        self.stats.mean_inliers = self._inlier_total / max(1, succeeded)
        # [R | t] maps previous-camera points into the current camera: cam_cur_from_cam_prev.
        prev_from_cur_rotation = rotation.T
        direction = -rotation.T @ translation.ravel()
        direction /= max(np.linalg.norm(direction), 1e-12)
        self.last_rotation, self.last_direction = prev_from_cur_rotation, direction
        return make_pose(prev_from_cur_rotation, direction * step_length)

    def step(self, image: np.ndarray, step_length: float = 1.0) -> np.ndarray | None:
        """Feed the next used frame; returns ``cam_prev_from_cam_this`` (None for the first).

        ``step_length``: distance (m) between this camera and the previous one (ground truth in
        an evaluation: monocular VO cannot know it).
        """
        gray = to_gray(image)
        previous, self.previous = self.previous, gray
        if previous is None:
            return None
        points0, points1 = self.correspondences(previous, gray)
        return self.estimate(points0, points1, step_length)
