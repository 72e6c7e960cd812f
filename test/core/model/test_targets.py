"""The one label builder: batched torch targets equal a plain per-clip numpy reference."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from la_pose_core.geometry import make_pose, normalize_translations, quaternion_from_matrix
from la_pose_core.model.targets import MIN_SCALE_M, PoseTargets
from la_pose_core.training.clip_length import truncate_clips


def reference_targets(poses: np.ndarray, fov) -> dict[str, np.ndarray]:
    """Clip by clip with the numpy geometry (what the builder was before issue 15)."""
    normalized, quaternions, log_scales = [], [], []
    for clip in poses:  # (P, 4, 4)
        clip_normalized, scale = normalize_translations(clip[:, :3, 3])
        normalized.append(clip_normalized)
        quaternions.append(quaternion_from_matrix(clip[:, :3, :3]))
        log_scales.append(math.log(max(scale, MIN_SCALE_M)))
    fov = np.asarray(fov, np.float64)
    fov = fov[:, None] if fov.ndim == 1 else fov
    return {
        "translation_normalized": np.stack(normalized),
        "quaternion": np.stack(quaternions),
        "fov": np.broadcast_to(fov, poses.shape[:2]),
        "log_scale": np.asarray(log_scales),
    }


def random_clips(seed: int, clips: int, pairs: int, step_m: float) -> np.ndarray:
    """``(clips, pairs, 4, 4)`` random motions; the last clip stands still and half turns."""
    rng = np.random.default_rng(seed)
    rotations = Rotation.random(clips * pairs, random_state=seed).as_matrix()
    poses = make_pose(
        rotations.reshape(clips, pairs, 3, 3), rng.normal(0, step_m, (clips, pairs, 3))
    )
    poses[-1, :, :3, 3] = 0.0
    poses[-1, 0, :3, :3] = Rotation.from_rotvec([0, np.pi, 0]).as_matrix()
    return poses


@pytest.mark.parametrize("step_m", [0.3, 4.0])  # clip scales below and above the 1 m floor
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("fov_kind", ["scalar", "clip", "pair"])
def test_batched_targets_equal_the_per_clip_reference(step_m, dtype, fov_kind):
    poses = random_clips(7, clips=5, pairs=9, step_m=step_m)  # (5, 9, 4, 4)
    rng = np.random.default_rng(1)
    fov = {"scalar": 0.8, "clip": rng.uniform(0.5, 1, 5), "pair": rng.uniform(0.5, 1, (5, 9))}
    fov = fov[fov_kind]
    targets = PoseTargets.from_relative_poses(torch.as_tensor(poses, dtype=dtype), fov)
    expected = reference_targets(poses, fov)
    for name, value in expected.items():
        actual = getattr(targets, name)
        assert actual.dtype == torch.float32 and actual.shape == value.shape, name
        np.testing.assert_allclose(actual.numpy(), value, atol=1e-5, err_msg=name)
    assert targets.log_scale[-1] == pytest.approx(math.log(MIN_SCALE_M))  # standing still


def test_numpy_and_tensor_inputs_give_the_same_targets():
    poses = random_clips(8, clips=3, pairs=4, step_m=2.0)
    fov = np.array([0.5, 0.6, 0.7])
    from_numpy = PoseTargets.from_relative_poses(poses, fov)
    from_tensor = PoseTargets.from_relative_poses(torch.as_tensor(poses), torch.as_tensor(fov))
    for name in ("translation_normalized", "quaternion", "fov", "log_scale"):
        torch.testing.assert_close(getattr(from_numpy, name), getattr(from_tensor, name))


def test_a_truncated_batch_has_the_targets_of_its_prefix():
    poses = random_clips(9, clips=4, pairs=7, step_m=3.0)  # (4, 7, 4, 4)
    batch = {
        "dt": torch.full((4, 7), 0.5),
        "relative_poses": torch.as_tensor(poses),
        "fov": torch.full((4,), 0.7),
    }
    for length in (2, 5, 8):
        cut = truncate_clips(batch, length)
        targets = PoseTargets.from_relative_poses(cut["relative_poses"], cut["fov"])
        expected = reference_targets(poses[:, : length - 1], np.full(4, 0.7))
        for name, value in expected.items():
            np.testing.assert_allclose(getattr(targets, name).numpy(), value, atol=1e-5)
