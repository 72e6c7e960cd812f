"""Virtual clips of rare motions: exact geometry of reversing and sharp turns."""

import math

import numpy as np
import pytest
import torch

from la_pose_core.geometry import adjacent_relative_poses, inverse, rotation_angle
from la_pose_core.pose_autoencoder.virtual_actions import (
    SHARP_TURN_DEG,
    reverse_motions,
    sharp_turn_motions,
    virtual_clips,
)


def kitti_motions(kitti_sample, count=5):
    from la_pose_core.data.kitti import KittiSequence

    poses = KittiSequence(kitti_sample).world_from_cam[: 5 * count + 1 : 5]  # 2 Hz
    return adjacent_relative_poses(poses)  # (count, 4, 4)


def test_reversed_clip_is_the_recorded_path_driven_backwards(kitti_sample):
    forward = kitti_motions(kitti_sample)
    dt = np.arange(1.0, 6.0)
    backward, backward_dt = reverse_motions(forward, dt)
    np.testing.assert_allclose(backward, inverse(forward)[::-1], atol=1e-12)
    np.testing.assert_array_equal(backward_dt, dt[::-1])
    assert np.all(backward[:, 2, 3] < -1.0)  # driving backwards: -z in the camera frame
    # chaining the reversed motions retraces the path from its end to its start
    total_forward = np.linalg.multi_dot(list(forward))
    total_backward = np.linalg.multi_dot(list(backward))
    np.testing.assert_allclose(total_backward, inverse(total_forward), atol=1e-9)


def test_sharp_turn_adds_the_yaw_and_keeps_the_step_length(kitti_sample):
    forward = kitti_motions(kitti_sample)
    yaw = math.radians(20.0)
    turned = sharp_turn_motions(forward, yaw)
    extra = turned[:, :3, :3] @ np.swapaxes(forward[:, :3, :3], -1, -2)  # R' R^T
    np.testing.assert_allclose(rotation_angle(extra), yaw, atol=1e-9)
    np.testing.assert_allclose(extra[:, 1], [[0.0, 1.0, 0.0]] * len(forward), atol=1e-12)  # y
    np.testing.assert_allclose(
        np.linalg.norm(turned[:, :3, 3], axis=-1), np.linalg.norm(forward[:, :3, 3], axis=-1)
    )
    assert np.all(turned[:, 0, 3] > forward[:, 0, 3] + 0.5)  # positive yaw: the chord bends +x


def test_virtual_clips_draw_kinds_and_angles_reproducibly(kitti_sample):
    forward = np.stack([kitti_motions(kitti_sample)] * 64)  # (64, 5, 4, 4)
    dt = np.full((64, 5), 0.5)
    first = virtual_clips(forward, dt, ["reverse", "sharp_turn"], torch.Generator().manual_seed(3))
    again = virtual_clips(forward, dt, ["reverse", "sharp_turn"], torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(first[0], again[0])
    poses, _, kinds = first
    assert 10 < kinds.count("reverse") < 54
    for clip, kind in zip(poses, kinds, strict=True):
        extra = clip[:, :3, :3] @ np.swapaxes(forward[0, :, :3, :3], -1, -2)
        if kind == "sharp_turn":
            degrees = np.degrees(rotation_angle(extra))
            assert np.all((degrees >= SHARP_TURN_DEG[0] - 1e-6) & (degrees <= SHARP_TURN_DEG[1]))
            assert np.ptp(degrees) < 1e-6  # one yaw per clip
        else:
            np.testing.assert_allclose(clip, inverse(forward[0])[::-1], atol=1e-12)
    only_reverse = virtual_clips(forward[:4], dt[:4], ["reverse"])[2]
    assert only_reverse == ["reverse"] * 4
    with pytest.raises(ValueError, match="subset"):
        virtual_clips(forward, dt, ["spin"])
