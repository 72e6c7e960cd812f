"""Virtual camera rotation: the warp equals a re-render from the rotated camera, labels follow."""

import math

import numpy as np
import pytest
import torch

from la_pose_core.data.synthetic.renderer import intrinsics_from_fov
from la_pose_core.data.synthetic.sequence import SyntheticSequence
from la_pose_core.data.virtual_rotation import (
    RandomVirtualRotation,
    VirtualRotation,
    max_yaw,
    rotate_clip,
    rotate_relative_poses,
    source_points,
    warp_frames,
)
from la_pose_core.geometry import inverse, translation_quaternion_from_pose, yaw_about_camera_y
from la_pose_core.metrics import yaw_left
from la_pose_core.model.targets import PoseTargets

WIDTH, HEIGHT, ZOOM = 128, 64, 1.25


def as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(image, dtype=torch.float32).permute(2, 0, 1) / 255.0  # (3, H, W)


def turn(psi: float) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = yaw_about_camera_y(psi)
    return pose  # cam_from_cam' (4, 4)


def test_the_warp_is_a_re_render_from_the_rotated_zoomed_camera():
    drive = SyntheticSequence(12, seed=4, size=(WIDTH, HEIGHT), fps=10.0)
    fov = math.radians(drive.vertical_fov_deg)
    psi = 0.8 * max_yaw(fov, ZOOM, WIDTH, HEIGHT)
    zoomed = intrinsics_from_fov(WIDTH, HEIGHT, 2.0 * math.atan(math.tan(fov / 2.0) / ZOOM))
    pose = drive.scene_from_cam[10]
    source = as_tensor(drive.renderer.render(pose, drive.intrinsics).image)
    truth = as_tensor(drive.renderer.render(pose @ turn(psi), zoomed).image)
    warped = warp_frames(source[None], fov, np.array([psi]), ZOOM)[0]
    not_rotated = warp_frames(source[None], fov, np.array([0.0]), ZOOM)[0]
    error = (warped - truth).abs().mean()
    assert error < 0.35 * (not_rotated - truth).abs().mean()  # the rotation is what it renders
    assert error < 0.03


def test_the_yaw_limit_keeps_every_sample_inside_the_frame():
    for fov_deg in (30.0, 45.0, 60.0):
        fov = math.radians(fov_deg)
        limit = max_yaw(fov, ZOOM, WIDTH, HEIGHT)
        assert math.radians(3.0) < limit < math.radians(12.0)
        corners = np.array([[-WIDTH / 2, -HEIGHT / 2], [WIDTH / 2, HEIGHT / 2]])
        for psi in (limit, -limit):
            assert np.all(
                np.abs(source_points(psi, fov, ZOOM, WIDTH, HEIGHT, corners))
                <= [WIDTH / 2 + 1e-6, HEIGHT / 2 + 1e-6]
            )
        beyond = source_points(1.1 * limit, fov, ZOOM, WIDTH, HEIGHT, corners)
        assert np.any(np.abs(beyond) > [WIDTH / 2, HEIGHT / 2])


def test_labels_are_the_motions_between_the_rotated_cameras():
    drive = SyntheticSequence(40, seed=2, size=(WIDTH, HEIGHT), fps=10.0)
    world_from_cam = drive.world_from_cam[::5]  # (8, 4, 4)
    yaws = np.random.default_rng(0).uniform(-0.08, 0.08, len(world_from_cam))
    relative = inverse(world_from_cam[:-1]) @ world_from_cam[1:]
    rotated = rotate_relative_poses(relative, yaws)
    turned = world_from_cam @ np.stack([turn(psi) for psi in yaws])
    np.testing.assert_allclose(rotated, inverse(turned[:-1]) @ turned[1:], atol=1e-9)
    np.testing.assert_allclose(  # same step lengths, yaw changed by the offsets' differences
        np.linalg.norm(rotated[:, :3, 3], axis=1), np.linalg.norm(relative[:, :3, 3], axis=1)
    )
    gained = yaw_left(rotated) - yaw_left(relative)
    np.testing.assert_allclose(np.abs(gained), np.abs(np.diff(yaws)), atol=2e-3)


def clip_sample(key: str = "clip-1") -> dict:
    drive = SyntheticSequence(8, seed=1, size=(WIDTH, HEIGHT), fps=2.0)
    frames = torch.stack([as_tensor(drive.image(i)) for i in range(8)])  # (8, 3, H, W)
    relative = inverse(drive.world_from_cam[:-1]) @ drive.world_from_cam[1:]
    return {
        "key": key,
        "frames": frames,
        "fov": torch.tensor(math.radians(drive.vertical_fov_deg)),
        "relative_poses": torch.as_tensor(relative),
    }


def test_a_rotated_clip_gets_a_narrower_fov_and_consistent_labels():
    sample = clip_sample()
    yaws = np.linspace(-0.05, 0.05, 8)
    rotated = rotate_clip(sample, yaws, VirtualRotation(zoom=ZOOM))
    assert rotated["frames"].shape == sample["frames"].shape
    expected_fov = 2.0 * math.atan(math.tan(float(sample["fov"]) / 2.0) / ZOOM)
    assert float(rotated["fov"]) == pytest.approx(expected_fov)
    targets = PoseTargets.from_relative_poses(rotated["relative_poses"][None], rotated["fov"])
    _, quaternion = translation_quaternion_from_pose(rotated["relative_poses"].numpy())
    np.testing.assert_allclose(targets.quaternion[0].numpy(), quaternion, atol=1e-6)
    _, unrotated = translation_quaternion_from_pose(sample["relative_poses"].numpy())
    np.testing.assert_allclose(  # each pair turned by the offsets' difference (small angles)
        np.abs(quaternion[:, 1] - unrotated[:, 1]), np.sin(np.diff(yaws) / 2), atol=5e-4
    )
    steps = np.linalg.norm(sample["relative_poses"].numpy()[:, :3, 3], axis=1)
    scale = math.exp(float(targets.log_scale))
    assert scale == pytest.approx(steps.mean())  # rotation keeps the steps


def test_the_draw_depends_on_seed_epoch_and_clip_only():
    options = VirtualRotation(probability=1.0, zoom=ZOOM)
    first = RandomVirtualRotation(options, seed=3, epoch_state={"epoch": 0})(clip_sample())
    again = RandomVirtualRotation(options, seed=3, epoch_state={"epoch": 0})(clip_sample())
    other = RandomVirtualRotation(options, seed=3, epoch_state={"epoch": 1})(clip_sample())
    assert torch.equal(first["frames"], again["frames"])
    assert not torch.equal(first["frames"], other["frames"])
    off = RandomVirtualRotation(VirtualRotation(probability=0.0), 3, {"epoch": 0})
    assert torch.equal(off(clip_sample())["frames"], clip_sample()["frames"])


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="probability"):
        VirtualRotation(probability=1.5)
    with pytest.raises(ValueError, match="zoom"):
        VirtualRotation(zoom=1.0)


def test_the_sustained_schedule_adds_one_yaw_rate_to_the_whole_clip():
    sample = clip_sample()
    sample["stamps"] = torch.arange(8, dtype=torch.float64) * 0.5  # 2 fps
    options = VirtualRotation(probability=1.0, zoom=ZOOM, schedule="sustained")
    rotated = RandomVirtualRotation(options, seed=5, epoch_state={"epoch": 0})(sample)
    relative = sample["relative_poses"].numpy()
    gained = yaw_left(rotated["relative_poses"].numpy()) - yaw_left(relative)  # (7,)
    np.testing.assert_allclose(gained, gained[0], atol=2e-3)  # the same extra turn every pair
    assert abs(gained[0]) > 1e-3
    with pytest.raises(ValueError, match="schedule"):
        VirtualRotation(schedule="zigzag")
