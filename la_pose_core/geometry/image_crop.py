"""The model's crop of a camera image: the largest centred region with the target aspect ratio.

The crop removes the excess rows (or columns) equally from both sides, so a resize then brings
the kept region to the model size without distortion. Cropping rows narrows the vertical field
of view, resizing does not: :func:`input_vertical_fov` gives the FoV the model sees,
:func:`input_camera_matrix` its intrinsics. Used by
the inference preprocessing (``la_pose_core.inference.preprocess``), the shard reader
(``la_pose_core.data.shards``) and the bag extraction, so that all three crop alike.
"""

from __future__ import annotations

import math

import numpy as np


def center_crop_box(
    height: int, width: int, target_height: int, target_width: int
) -> tuple[int, int, int, int]:
    """Largest centred region of a ``height x width`` image with the target aspect ratio.

    Returns:
        ``(top, left, crop_height, crop_width)`` in pixels.
    """
    if height * target_width > width * target_height:  # too tall: crop rows
        crop_height, crop_width = round(width * target_height / target_width), width
    else:  # too wide (or exact): crop columns
        crop_height, crop_width = height, round(height * target_width / target_height)
    return (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width


def input_vertical_fov(
    fy: float, height: int, width: int, target_height: int, target_width: int
) -> float:
    """Vertical FoV (radians) of the model input made from a ``height x width`` image.

    ``2 atan(crop_height / (2 fy))`` with ``fy`` the focal length in pixels of the original image.
    """
    _, _, crop_height, _ = center_crop_box(height, width, target_height, target_width)
    return 2.0 * math.atan(crop_height / (2.0 * fy))


def input_camera_matrix(
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    height: int,
    width: int,
    target_height: int,
    target_width: int,
) -> np.ndarray:
    """``(3, 3)`` intrinsics of the model input made from a ``height x width`` image with
    intrinsics ``fx, fy, cx, cy``: the crop moves the principal point, the resize scales all four
    (pixel centres at integer coordinates)."""
    top, left, crop_height, crop_width = center_crop_box(height, width, target_height, target_width)
    scale_x, scale_y = target_width / crop_width, target_height / crop_height
    return np.array(
        [
            [fx * scale_x, 0.0, (cx - left + 0.5) * scale_x - 0.5],
            [0.0, fy * scale_y, (cy - top + 0.5) * scale_y - 0.5],
            [0.0, 0.0, 1.0],
        ]
    )
