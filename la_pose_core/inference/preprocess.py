"""Camera image -> model input: centre crop to the model's aspect ratio, then resize.

The crop removes the excess rows (or columns) equally from both sides so the kept region has
the model's width:height ratio; the resize (bilinear, antialiased) then brings it to the model
size without distortion. Cropping rows narrows the vertical field of view, resizing does not.
The crop geometry lives in :mod:`la_pose_core.geometry.image_crop` (shared with the shard
reader), with ``input_vertical_fov``: the FoV the model sees (the pose head's FoV target).

Images are uint8, ``(H, W)`` greyscale (replicated to 3 channels) or ``(H, W, 3)`` RGB
(convert BGR sources first).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from la_pose_core.geometry.image_crop import center_crop_box


def preprocess_image(
    image: np.ndarray, height: int, width: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """uint8 ``(H, W)`` or ``(H, W, 3)`` image -> float ``(3, height, width)`` in [0, 1].

    The crop happens before the upload; the conversion and resize run on ``device``.
    """
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]  # (H, W, 1)
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")
    top, left, crop_height, crop_width = center_crop_box(
        image.shape[0], image.shape[1], height, width
    )
    crop = image[top : top + crop_height, left : left + crop_width]  # (h, w, C)
    pixels = torch.from_numpy(np.ascontiguousarray(crop)).to(device)  # (h, w, C) uint8
    pixels = pixels.permute(2, 0, 1).float().div_(255.0).expand(3, -1, -1)  # (3, h, w)
    if (crop_height, crop_width) != (height, width):
        resized = F.interpolate(pixels[None], (height, width), mode="bilinear", antialias=True)
        pixels = resized[0]  # (3, height, width)
    return pixels.contiguous()
