"""Centre crop to the model aspect, resize, greyscale replication, input FoV."""

import math

import numpy as np
import pytest
import torch

from la_pose_core.geometry.image_crop import center_crop_box, input_vertical_fov
from la_pose_core.inference.preprocess import preprocess_image


def test_crop_keeps_the_model_aspect_ratio_centred():
    assert center_crop_box(376, 1241, 448, 960) == (0, 217, 376, 806)  # KITTI: crop columns
    assert center_crop_box(1080, 1920, 448, 960) == (92, 0, 896, 1920)  # 16:9: crop rows
    assert center_crop_box(448, 960, 448, 960) == (0, 0, 448, 960)


def test_only_row_cropping_narrows_the_vertical_fov():
    assert input_vertical_fov(700.0, 376, 1241, 448, 960) == pytest.approx(
        2 * math.atan(376 / 1400)
    )
    assert input_vertical_fov(1000.0, 1080, 1920, 448, 960) == pytest.approx(
        2 * math.atan(896 / 2000)
    )


def test_rgb_and_greyscale_become_three_channel_unit_range_tensors():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (90, 200, 3), dtype=np.uint8)
    out = preprocess_image(rgb, 32, 64)
    assert out.shape == (3, 32, 64) and out.dtype == torch.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    grey = rng.integers(0, 256, (32, 64), dtype=np.uint8)
    out = preprocess_image(grey, 32, 64)
    expected = torch.from_numpy(grey).float() / 255
    for channel in range(3):
        torch.testing.assert_close(out[channel], expected)


def test_wrong_inputs_are_rejected():
    with pytest.raises(ValueError, match="uint8"):
        preprocess_image(np.zeros((32, 64, 3), np.float32), 32, 64)
    with pytest.raises(ValueError, match="shape"):
        preprocess_image(np.zeros((32, 64, 4), np.uint8), 32, 64)
