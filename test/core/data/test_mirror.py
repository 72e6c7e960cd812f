"""Left-right mirror: flipped frames and their labels describe the same mirrored motion."""

import math

import numpy as np
import pytest
import torch

from la_pose_core.data.mirror import (
    MIRROR,
    MirroredSequence,
    RandomMirror,
    mirror_clip,
    mirror_quaternion,
    mirror_relative_poses,
    mirror_translation,
)
from la_pose_core.data.synthetic.sequence import SyntheticSequence
from la_pose_core.data.virtual_rotation import rotate_relative_poses, warp_frames
from la_pose_core.geometry import inverse, pose_from_translation_quaternion
from la_pose_core.geometry.rotations import quaternion_from_matrix
from la_pose_core.metrics import yaw_left
from la_pose_core.model.targets import PoseTargets
from test.core.data.test_virtual_rotation import HEIGHT, WIDTH, ZOOM, clip_sample


def drive_motions(seed: int = 2) -> np.ndarray:
    drive = SyntheticSequence(60, seed=seed, size=(WIDTH, HEIGHT), fps=10.0)
    world_from_cam = drive.world_from_cam[::5]  # (12, 4, 4)
    return inverse(world_from_cam[:-1]) @ world_from_cam[1:]  # (11, 4, 4)


def test_the_mirrored_motion_turns_and_slides_the_other_way_at_the_same_speed():
    relative = drive_motions()
    mirrored = mirror_relative_poses(relative)
    np.testing.assert_allclose(yaw_left(mirrored), -yaw_left(relative), atol=1e-12)
    np.testing.assert_allclose(mirrored[:, 0, 3], -relative[:, 0, 3])  # lateral (x right)
    np.testing.assert_allclose(mirrored[:, 1:3, 3], relative[:, 1:3, 3])  # down, forward
    np.testing.assert_allclose(np.linalg.det(mirrored[:, :3, :3]), 1.0)  # still rotations
    np.testing.assert_allclose(mirror_relative_poses(mirrored), relative, atol=1e-12)


def test_a_flipped_view_of_a_yawed_camera_is_the_flipped_view_yawed_the_other_way():
    """The frames and the labels agree: flipping a re-render from a camera yawed by psi gives
    the re-render of the flipped frame from a camera yawed by -psi, and the label transform
    maps the one motion onto the other."""
    frames = clip_sample()["frames"][:2]  # (2, 3, H, W)
    fov, yaws = math.radians(45.0), np.array([0.04, -0.03])
    flipped_of_turned = warp_frames(frames, fov, yaws, ZOOM).flip(-1)
    turned_of_flipped = warp_frames(frames.flip(-1), fov, -yaws, ZOOM)
    torch.testing.assert_close(flipped_of_turned, turned_of_flipped, atol=1e-5, rtol=0)
    relative = drive_motions()[:1]  # (1, 4, 4)
    np.testing.assert_allclose(
        mirror_relative_poses(rotate_relative_poses(relative, yaws)),
        rotate_relative_poses(mirror_relative_poses(relative), -yaws),
        atol=1e-12,
    )


def test_a_mirrored_clip_flips_its_frames_and_relabels_its_motion():
    sample = clip_sample()
    mirrored = mirror_clip(sample)
    torch.testing.assert_close(mirrored["frames"], sample["frames"].flip(-1))
    assert bool(mirrored["mirrored"]) and float(mirrored["fov"]) == float(sample["fov"])
    relative = sample["relative_poses"].numpy()
    np.testing.assert_allclose(mirrored["relative_poses"].numpy(), mirror_relative_poses(relative))
    steps = np.linalg.norm(relative[:, :3, 3], axis=1)
    targets = PoseTargets.from_relative_poses(mirrored["relative_poses"][None], mirrored["fov"])
    assert math.exp(float(targets.log_scale)) == pytest.approx(steps.mean())  # the scale stays
    label_free = mirror_clip({"key": "real-1", "frames": sample["frames"]})
    assert set(label_free) == {"key", "frames", "mirrored"}


def test_the_draw_depends_on_seed_epoch_and_clip_only():
    def draws(epoch: int) -> list[bool]:
        stage = RandomMirror(0.5, seed=3, epoch_state={"epoch": epoch})
        return [bool(stage({"key": f"c-{i}"})["mirrored"]) for i in range(40)]

    assert draws(0) == draws(0) and draws(0) != draws(1)
    assert 10 < sum(draws(0)) < 30  # about half
    sample = clip_sample()
    kept = RandomMirror(0.0, 3, {"epoch": 0})(sample)
    assert not bool(kept["mirrored"])
    torch.testing.assert_close(kept["frames"], sample["frames"])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        RandomMirror(1.5, 3, {"epoch": 0})


def test_the_mirrored_sequence_sees_the_mirrored_world_through_the_mirrored_camera():
    """A world point, mirrored, projects through the mirrored camera and pose onto the column
    that the image flip puts its original pixel on: images, poses and intrinsics agree."""
    drive = SyntheticSequence(6, seed=2, size=(WIDTH, HEIGHT), fps=2.0)
    mirrored = MirroredSequence(drive)
    world_point = np.array([1.5, 0.4, 9.0, 1.0])  # in the first camera's world, ahead

    def pixel(intrinsics, world_from_cam, point) -> np.ndarray:
        camera = inverse(world_from_cam) @ point  # (4,)
        return (intrinsics.matrix @ camera[:3])[:2] / camera[2]  # (u, v)

    for index in (0, 5):
        u, v = pixel(drive.intrinsics, drive.world_from_cam[index], world_point)
        u_m, v_m = pixel(
            mirrored.require_intrinsics(), mirrored.world_from_cam[index], MIRROR @ world_point
        )
        assert (u_m, v_m) == pytest.approx((WIDTH - 1 - u, v))
    np.testing.assert_array_equal(mirrored.image(3), drive.image(3)[:, ::-1])
    relative = inverse(drive.world_from_cam[:-1]) @ drive.world_from_cam[1:]  # (5, 4, 4)
    relative_m = inverse(mirrored.world_from_cam[:-1]) @ mirrored.world_from_cam[1:]
    np.testing.assert_allclose(relative_m, mirror_relative_poses(relative), atol=1e-12)
    assert len(mirrored) == len(drive) and mirrored.stamps is drive.stamps


def test_mirrored_translations_and_quaternions_are_the_mirrored_motions():
    relative = drive_motions()
    mirrored = mirror_relative_poses(relative)
    quaternions = np.stack([quaternion_from_matrix(m[:3, :3]) for m in relative])  # (11, 4)
    for motion, t, q in zip(
        mirrored,
        mirror_translation(relative[:, :3, 3]),
        mirror_quaternion(quaternions),
        strict=True,
    ):
        np.testing.assert_allclose(pose_from_translation_quaternion(t, q), motion, atol=1e-12)
