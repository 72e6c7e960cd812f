"""Road-plane step length: each pair's metric step from the road in front of the car.

The model reads the step length to about 15 % per pair (README, "The road plane"). A camera
whose height above the road is known sees the step in the road's image motion: a road point
``X`` of the current frame (``n . X = h``, ``n`` the road's normal pointing down in the camera
frame, ``h`` the camera's height) is seen in the previous frame at ``K (R + t n^T / h) K^-1``
times its pixel, with ``t = s d`` the pair's translation (``d`` its direction, ``s`` the step).
With the rotation and the direction from the model (the yaw refined by :mod:`.epipolar_yaw`),
only ``s`` is unknown. Each candidate on a grid of ``LOG_STEP`` in ``log s`` within
``+-LOG_REACH`` of the model's step warps the previous frame onto the current one; the mean
absolute difference over the road region scores it.

The road region is where a pixel's ray meets the road within ``ROAD_RANGE_M``. Parked cars,
kerbs and house fronts in it give wrong minima. So the left and right halves of the region are
scored on their own as well, and the step is kept only where their best candidates agree within
``AGREEMENT`` (log) and no best lies on the edge of the search; otherwise None, and the model's
step stays.

Conventions: ``motion`` is ``cam_prev_from_cam_this`` (``X_prev = R X_this + t``), camera
optical frame (x right, y down, z forward); frames are the model-size greyscale images.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LOG_REACH = 0.8  # the step is searched within exp(+-0.8) = 0.45-2.2 of the model's
LOG_STEP = 0.02  # the search grid in log(step)
AGREEMENT = 0.1  # the two halves' best steps must agree within this (log)
ROAD_RANGE_M = 20.0  # road farther away moves too little to score
MIN_PIXELS = 150  # fewer road pixels in view (per half): no estimate
MIN_STEP_M = 0.3  # a model step below this: no estimate (standing, or nearly)


@dataclass(frozen=True)
class RoadPlane:
    """The road in the camera optical frame: unit ``normal`` pointing down to the road and
    the camera's ``height_m`` above it."""

    normal: np.ndarray  # (3,)
    height_m: float

    @classmethod
    def from_base_from_camera(cls, base_from_camera: np.ndarray) -> RoadPlane | None:
        """The road from the camera's mounting ``(4, 4)`` in ``base_link``, with ``base_link``
        on the road (x forward, y left, z up); None when the camera is not above it."""
        height = float(base_from_camera[2, 3])
        if height <= 0.0:
            return None
        down = base_from_camera[:3, :3].T @ np.array([0.0, 0.0, -1.0])  # base's -z, camera frame
        return cls(normal=down / np.linalg.norm(down), height_m=height)


def road_region(plane: RoadPlane, camera_matrix: np.ndarray, height: int, width: int):
    """``(H, W)`` masks of the road within ``ROAD_RANGE_M``: whole, left half, right half."""
    columns, rows = np.meshgrid(np.arange(width), np.arange(height))
    pixels = np.stack([columns, rows, np.ones_like(rows)], axis=-1).astype(np.float64)
    rays = pixels @ np.linalg.inv(camera_matrix).T  # (H, W, 3), z = 1
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    cosine = rays @ plane.normal  # (H, W): > 0 where the ray goes down to the road
    road = cosine * ROAD_RANGE_M > plane.height_m
    left = road & (columns < width / 2)
    return road, left, road & ~left


def road_step_length(
    previous: np.ndarray,
    current: np.ndarray,
    motion: np.ndarray,
    camera_matrix: np.ndarray,
    plane: RoadPlane,
) -> float | None:
    """The step length (m) of ``motion`` ``(4, 4)`` that best maps the road of the
    ``previous`` onto the ``current`` frame (``(H, W)`` float32), or None (see the module doc)."""
    step = float(np.linalg.norm(motion[:3, 3]))
    if step < MIN_STEP_M:
        return None
    height, width = current.shape
    regions = np.stack(road_region(plane, camera_matrix, height, width))  # (3, H, W)
    top = int(np.argmax(regions[0].any(axis=1)))  # the first row with road: warp from there
    regions = regions[:, top:].reshape(3, -1).astype(np.float32)  # (3, H' W)
    current = current[top:]  # (H', W)
    offsets = np.arange(-LOG_REACH, LOG_REACH + 1e-9, LOG_STEP)  # (G,) in log(step)
    # the homography previous <- current of road pixels for a step s: base + s * per_metre,
    # on the current frame's rows from ``top`` (``shift`` maps those to full-frame pixels)
    inverse = np.linalg.inv(camera_matrix)
    shift = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, top], [0.0, 0.0, 1.0]])
    base = camera_matrix @ motion[:3, :3] @ inverse @ shift
    direction = motion[:3, 3] / step
    per_metre = camera_matrix @ np.outer(direction, plane.normal) @ inverse @ shift / plane.height_m
    costs = np.full((3, len(offsets)), np.inf)  # (3, G): mean absolute difference per region
    for index, offset in enumerate(offsets):
        warped = cv2.warpPerspective(
            previous, base + step * np.exp(offset) * per_metre, current.shape[::-1],
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=-1.0,
        )  # fmt: skip
        inside = (warped >= 0.0).ravel()  # (H' W,)
        difference = np.where(inside, np.abs(warped - current).ravel(), 0.0)  # (H' W,)
        pixels = regions @ inside  # (3,)
        enough = pixels >= MIN_PIXELS
        costs[enough, index] = (regions @ difference)[enough] / pixels[enough]
    best = np.argmin(costs, axis=1)  # (3,)
    on_edge = np.isin(best, (0, len(offsets) - 1)).any()
    if on_edge or not np.isfinite(costs[np.arange(3), best]).all():
        return None
    if abs(offsets[best[1]] - offsets[best[2]]) > AGREEMENT:
        return None
    return step * float(np.exp(offsets[best[0]]))
