"""The synthetic driving world: determinism, KITTI layout, exact geometry, trackable texture."""

import math

import cv2
import numpy as np
import pytest

from la_pose_core.data import KittiSequence
from la_pose_core.data.synthetic import (
    BoxSet,
    Lighting,
    Material,
    SyntheticSequence,
    TrajectoryConfig,
    World,
    generate_trajectory,
    intrinsics_from_fov,
    parse_size,
    write_synthetic_sequence,
)
from la_pose_core.geometry import adjacent_relative_poses, inverse, rotation_angle

SMALL = (160, 80)
CRUISE = TrajectoryConfig(start_speed=8.0, stop_probability=0.0, min_cruise_speed=7.0)


def test_same_seed_same_sequence_other_seed_other_sequence():
    a = SyntheticSequence(3, seed=7, size=SMALL)
    b = SyntheticSequence(3, seed=7, size=SMALL)
    c = SyntheticSequence(3, seed=8, size=SMALL)
    np.testing.assert_array_equal(a.image(2), b.image(2))
    np.testing.assert_array_equal(a.world_from_cam, b.world_from_cam)
    assert a.intrinsics == b.intrinsics
    assert not np.array_equal(a.image(2), c.image(2))
    assert not np.allclose(a.world_from_cam, c.world_from_cam)


def test_images_are_textured_streets_not_noise():
    sequence = SyntheticSequence(1, seed=3, size=(320, 160))
    image = sequence.image(0)
    assert image.shape == (160, 320, 3) and image.dtype == np.uint8
    output = sequence.render(0)
    # sky on top, ground at the bottom, boxes (buildings, cars, ...) in between
    assert (output.primitive[0] == -1).mean() > 0.2
    assert (output.primitive[-1] == -2).mean() > 0.5
    assert (output.primitive >= 0).mean() > 0.1
    # smooth at pixel scale (a renderer, not noise), yet full of edges (trackable)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    neighbour_difference = np.abs(np.diff(grey, axis=1)).mean()
    shuffled = np.random.default_rng(0).permutation(grey.ravel())
    assert neighbour_difference < 0.25 * np.abs(np.diff(shuffled)).mean()
    assert len(cv2.goodFeaturesToTrack(grey.astype(np.uint8), 500, 0.01, 3)) > 150


def test_kitti_reader_reads_the_written_folder(tmp_path):
    written = write_synthetic_sequence(tmp_path / "seq", frames=4, seed=5, size=SMALL, fps=5.0)
    read = KittiSequence(tmp_path / "seq")
    assert len(read) == 4
    np.testing.assert_allclose(read.stamps, [0.0, 0.2, 0.4, 0.6], atol=1e-12)
    np.testing.assert_allclose(read.world_from_cam, written.world_from_cam, atol=1e-8)
    np.testing.assert_allclose(read.world_from_cam[0], np.eye(4), atol=1e-12)
    for name in ("fx", "fy", "cx", "cy"):
        assert getattr(read.intrinsics, name) == pytest.approx(getattr(written.intrinsics, name))
    assert (read.intrinsics.width, read.intrinsics.height) == SMALL
    np.testing.assert_array_equal(read.image(3), written.image(3))
    with pytest.raises(FileExistsError):
        write_synthetic_sequence(tmp_path / "seq", frames=2, seed=5, size=SMALL)


def test_grayscale_and_noise_options():
    sequence = SyntheticSequence(1, seed=2, size=SMALL, grayscale=True, noise_std=2.0)
    image = sequence.image(0)
    assert image.shape == (SMALL[1], SMALL[0]) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, sequence.image(0))  # the noise is seeded too


def test_intrinsics_from_field_of_view():
    intrinsics = intrinsics_from_fov(960, 448, math.radians(45.0))
    assert intrinsics.vertical_fov == pytest.approx(math.radians(45.0))
    assert intrinsics.fx == intrinsics.fy
    assert (intrinsics.cx, intrinsics.cy) == (479.5, 223.5)
    assert parse_size("320x160") == (320, 160)
    with pytest.raises(ValueError):
        parse_size("320")


def _marker_world(seed: int, corner_lo, corner_hi) -> World:
    """An empty street world with one pure red box, no fog."""
    base = World(seed, populate=False)
    lighting = Lighting(fog_density=0.0, sun_intensity=0.6, cloud_cover=0.0)
    box = BoxSet(
        lo=np.array([corner_lo], np.float64),
        hi=np.array([corner_hi], np.float64),
        material=np.array([Material.PLAIN], np.int16),
        colour=np.array([[1.0, 0.0, 0.0]], np.float32),
        params=np.zeros((1, 4), np.float32),
        ident=np.array([1]),
    )
    return World(seed, grid=base.grid, lighting=lighting, populate=False, extra_boxes=box)


def test_rendered_geometry_agrees_with_the_poses():
    """A box's silhouette lands exactly where the poses and intrinsics project its corners."""
    seed, frames = 4, 12
    probe = SyntheticSequence(
        frames, seed, size=(320, 160), trajectory_config=CRUISE, world=World(seed, populate=False)
    )
    # a 2 m box 30 m ahead of the first camera, 4 m to the right, standing on the ground
    scene_from_cam0 = probe.scene_from_cam[0]
    centre = (scene_from_cam0 @ np.array([4.0, 0.0, 30.0, 1.0]))[:3]
    lo, hi = centre - np.array([1.0, 1.0, 0.0]), centre + np.array([1.0, 1.0, 0.0])
    lo[2], hi[2] = 0.0, 2.0
    sequence = SyntheticSequence(
        frames, seed, size=(320, 160), trajectory_config=CRUISE, world=_marker_world(seed, lo, hi)
    )
    np.testing.assert_array_equal(sequence.world_from_cam, probe.world_from_cam)

    corners_scene = np.array(
        [[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )
    corners_world = corners_scene @ sequence.world_from_scene.T  # (8, 4) in the KITTI frame
    K = sequence.intrinsics.matrix
    moved = []
    for index in (0, 5, 11):
        # only what the sequence publishes: world_from_cam and the intrinsics
        cam = corners_world @ inverse(sequence.world_from_cam[index]).T  # (8, 4)
        pixels = (cam[:, :3] @ K.T)[:, :2] / cam[:, 2:3]  # (8, 2)
        image = sequence.image(index).astype(int)
        red = (image[..., 0] - image[..., 1] > 60) & (image[..., 2] < 40)
        rows, columns = np.nonzero(red)
        assert len(rows) > 50
        # pixel centres inside the projected silhouette: within one pixel of the corners' hull
        assert columns.min() == pytest.approx(pixels[:, 0].min(), abs=1.0)
        assert columns.max() == pytest.approx(pixels[:, 0].max(), abs=1.0)
        assert rows.min() == pytest.approx(pixels[:, 1].min(), abs=1.0)
        assert rows.max() == pytest.approx(pixels[:, 1].max(), abs=1.0)
        moved.append(columns.max() - columns.min())
    assert moved[2] > 1.2 * moved[0]  # the box came closer in the image (the car drove)


def test_visual_odometry_tracks_the_synthetic_street():
    """OpenCV features + essential matrix recover the ground-truth motion between frames."""
    sequence = SyntheticSequence(6, seed=12, size=(480, 240), trajectory_config=CRUISE)
    K = sequence.intrinsics.matrix
    first = cv2.cvtColor(sequence.image(0), cv2.COLOR_RGB2GRAY)
    second = cv2.cvtColor(sequence.image(5), cv2.COLOR_RGB2GRAY)
    points = cv2.goodFeaturesToTrack(first, 800, 0.005, 5)
    tracked, status, _ = cv2.calcOpticalFlowPyrLK(first, second, points, None, winSize=(21, 21))
    good = status.ravel() == 1
    p0, p1 = points[good].reshape(-1, 2), tracked[good].reshape(-1, 2)
    assert len(p0) > 200
    essential, inliers = cv2.findEssentialMat(p0, p1, K, cv2.RANSAC, 0.999, 0.5)
    _, rotation, translation, _ = cv2.recoverPose(essential, p0, p1, K, mask=inliers)
    # OpenCV returns cam2_from_cam1; ours is cam0_from_cam5
    truth = inverse(inverse(sequence.world_from_cam[0]) @ sequence.world_from_cam[5])
    assert np.linalg.norm(truth[:3, 3]) > 2.0
    rotation_error = math.degrees(rotation_angle(rotation.T @ truth[:3, :3]))
    direction = truth[:3, 3] / np.linalg.norm(truth[:3, 3])
    direction_error = math.degrees(math.acos(np.clip(direction @ translation.ravel(), -1, 1)))
    assert rotation_error < 0.5
    assert direction_error < 5.0


def test_trajectories_stop_and_reverse_when_asked():
    grid = World(21, populate=False).grid
    config = TrajectoryConfig(stop_probability=1.0, reverse_probability=1.0)
    drive = generate_trajectory(grid, 900, 10.0, np.random.default_rng(0), config)
    speed = drive.speed
    standing = np.flatnonzero(speed == 0.0)
    runs = np.split(standing, np.flatnonzero(np.diff(standing) > 1) + 1)
    assert max(len(run) for run in runs) >= 10  # standing still for a second or more
    assert (speed < -0.5).sum() >= 10  # reversing
    # reversing moves the camera backwards: -z in its own frame
    motion = adjacent_relative_poses(drive.world_from_cam)[:, :3, 3]  # (N-1, 3)
    backwards = speed[:-1] < -0.5
    assert np.all(motion[backwards, 2] < 0)
    assert np.all(motion[speed[:-1] > 0.5, 2] > 0)
    # standing still: identical consecutive poses
    still = (speed[:-1] == 0) & (speed[1:] == 0)
    np.testing.assert_allclose(motion[still], 0.0, atol=1e-9)

    calm = generate_trajectory(
        grid,
        300,
        10.0,
        np.random.default_rng(0),
        TrajectoryConfig(stop_probability=0.0, start_speed=6.0),
    )
    assert calm.speed.min() > 0


def test_trajectory_shape_turns_lane_changes_and_mount():
    grid = World(30, populate=False).grid
    drive = generate_trajectory(grid, 1500, 10.0, np.random.default_rng(1), TrajectoryConfig())
    assert np.any(drive.route.path.curvature != 0)  # turns at crossings
    assert len(drive.lateral.change_start) > 0  # lane changes / overtakes
    camera = drive.scene_from_cam
    assert np.all(np.abs(camera[:, 2, 3] - 1.6) < 0.05)  # height ~1.6 m
    # optical axis forward and level: z_cam is nearly horizontal, y_cam points down
    assert np.all(np.abs(camera[:, 2, 2]) < 0.05)
    assert np.all(camera[:, 2, 1] < -0.99)
    # smooth: no jumps between frames at 10 fps
    steps = np.linalg.norm(np.diff(camera[:, :3, 3], axis=0), axis=1)
    assert steps.max() < 2.5
    # stays on the road: within the road half width of a street centre line
    x, y = drive.scene_from_base[:, 0, 3], drive.scene_from_base[:, 1, 3]
    _, offset_x = grid.nearest_street_x(x)
    _, offset_y = grid.nearest_street_y(y)
    assert np.all(np.minimum(np.abs(offset_x), np.abs(offset_y)) < grid.road_half_width)
