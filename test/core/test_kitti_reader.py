"""The KITTI-layout reader on the real sample, and its errors on broken folders."""

import shutil

import numpy as np
import pytest

from la_pose_core.data import KittiSequence, read_kitti_poses, write_kitti_poses
from la_pose_core.data.trajectory_io import (
    associate_stamps,
    read_tum_trajectory,
    write_tum_trajectory,
)


def test_reads_the_real_sample(kitti_sample):
    sequence = KittiSequence(kitti_sample)
    assert len(sequence) == 91
    assert sequence.stamps.shape == (91,)
    assert np.all(np.diff(sequence.stamps) > 0.09)  # about 10 Hz
    assert sequence.world_from_cam.shape == (91, 4, 4)
    np.testing.assert_allclose(sequence.world_from_cam[0], np.eye(4), atol=1e-6)
    # the car drives forward: +z of the first camera, about 80 m over the sample
    assert sequence.world_from_cam[-1, 2, 3] > 60.0
    intrinsics = sequence.intrinsics
    assert (intrinsics.fx, intrinsics.cy) == pytest.approx((718.856, 185.2157))
    assert (intrinsics.width, intrinsics.height) == (1241, 376)
    assert intrinsics.vertical_fov == pytest.approx(2 * np.arctan(376 / (2 * 718.856)))

    frame = sequence.frame(5)
    assert frame.image.shape == (376, 1241) and frame.image.dtype == np.uint8
    assert frame.stamp == sequence.stamps[5]
    np.testing.assert_array_equal(frame.world_from_cam, sequence.world_from_cam[5])


def test_rotations_are_orthonormal_after_reading(kitti_sample):
    rotations = read_kitti_poses(kitti_sample / "poses.txt")[:, :3, :3]
    np.testing.assert_allclose(
        rotations @ np.swapaxes(rotations, 1, 2),
        np.broadcast_to(np.eye(3), rotations.shape),
        atol=1e-12,
    )


@pytest.fixture
def sample_copy(kitti_sample, tmp_path):
    """A small writable copy of the sample (5 frames)."""
    root = tmp_path / "seq"
    (root / "image_0").mkdir(parents=True)
    for index in range(5):
        shutil.copy(kitti_sample / f"image_0/{index:06d}.png", root / "image_0")
    (root / "times.txt").write_text(
        "\n".join((kitti_sample / "times.txt").read_text().split("\n")[:5])
    )
    (root / "poses.txt").write_text(
        "\n".join((kitti_sample / "poses.txt").read_text().split("\n")[:5])
    )
    shutil.copy(kitti_sample / "calib.txt", root)
    return root


def test_a_sequence_without_poses_reads(sample_copy):
    (sample_copy / "poses.txt").unlink()
    sequence = KittiSequence(sample_copy)
    assert sequence.world_from_cam is None
    assert next(iter(sequence)).world_from_cam is None


def test_a_sequence_without_calibration_reads_for_label_free_clips(sample_copy):
    """Unlabelled dashcam folders (the Udacity clip) have neither poses nor intrinsics."""
    (sample_copy / "calib.txt").unlink()
    sequence = KittiSequence(sample_copy)
    assert sequence.intrinsics is None
    assert sequence.image(0).shape == (376, 1241)
    with pytest.raises(ValueError, match=r"no calib\.txt"):
        sequence.require_intrinsics()


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda root: shutil.rmtree(root / "image_0"), "no image_0/"),
        (lambda root: (root / "times.txt").write_text("0.0\n0.1\n"), "5 images but 2 stamps"),
        (
            lambda root: (root / "times.txt").write_text("0\n0.2\n0.1\n0.3\n0.4\n"),
            "not strictly increasing",
        ),
        (lambda root: (root / "poses.txt").write_text("1 0 0\n"), "expected 12 numbers"),
        (lambda root: (root / "calib.txt").write_text("P0: 1 2 3\n"), "needs 12 numbers"),
    ],
)
def test_broken_sequences_give_clear_errors(sample_copy, breakage, message):
    breakage(sample_copy)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        KittiSequence(sample_copy)


def test_an_unreadable_image_names_its_file(sample_copy):
    (sample_copy / "image_0/000003.png").write_bytes(b"not a png")
    sequence = KittiSequence(sample_copy)
    with pytest.raises(ValueError, match=r"000003\.png: not a readable image"):
        sequence.image(3)


def test_trajectory_files_round_trip(kitti_sample, tmp_path):
    poses = read_kitti_poses(kitti_sample / "poses.txt")
    write_kitti_poses(tmp_path / "poses.txt", poses)
    np.testing.assert_allclose(read_kitti_poses(tmp_path / "poses.txt"), poses, atol=1e-8)
    stamps = np.arange(len(poses)) * 0.1
    write_tum_trajectory(tmp_path / "traj.tum", stamps, poses)
    read_stamps, read_poses = read_tum_trajectory(tmp_path / "traj.tum")
    np.testing.assert_allclose(read_stamps, stamps)
    np.testing.assert_allclose(read_poses, poses, atol=1e-8)


def test_non_rotation_matrices_are_rejected(tmp_path):
    (tmp_path / "poses.txt").write_text("2 0 0 0 0 1 0 0 0 0 1 0\n")
    with pytest.raises(ValueError, match="not a rotation"):
        read_kitti_poses(tmp_path / "poses.txt")


def test_stamp_association_matches_nearest_within_tolerance():
    a = np.array([0.0, 0.1, 0.2, 0.3, 5.0])
    b = np.array([0.305, 0.0, 0.21, 0.1])
    index_a, index_b = associate_stamps(a, b, max_difference_s=0.02)
    np.testing.assert_array_equal(index_a, [0, 1, 2, 3])
    np.testing.assert_array_equal(index_b, [1, 3, 2, 0])
