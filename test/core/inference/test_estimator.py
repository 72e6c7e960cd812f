"""Streaming PoseEstimator: equals clip mode before the window slides, resets, chaining, revised
pairs."""

import dataclasses

import numpy as np
import pytest
import torch

from la_pose_core.data.mirror import mirror_quaternion, mirror_translation
from la_pose_core.geometry import chain_relative_poses, pose_from_translation_quaternion
from la_pose_core.inference.estimator import (
    RESET,
    TRACKING,
    WARMING_UP,
    PoseEstimator,
    keep_latest_motions,
)
from la_pose_core.model.checkpoint import save_checkpoint
from la_pose_core.model.config import get_config
from la_pose_core.model.inverse_dynamics import InverseDynamics
from la_pose_core.model.lapose import LAPosePosttrainer
from la_pose_core.model.pose_head import PoseHead

CONFIG = get_config("tiny")


@pytest.fixture
def estimator() -> PoseEstimator:
    torch.manual_seed(0)
    return PoseEstimator(InverseDynamics(CONFIG), PoseHead(CONFIG), CONFIG, device="cpu")


def images(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (50, 120, 3), dtype=np.uint8) for _ in range(count)]


def jittered_stamps(count: int, start: float = 100.0) -> list[float]:
    rng = np.random.default_rng(1)
    return [start + 0.5 * i + rng.uniform(-0.03, 0.03) for i in range(count)]


def test_streaming_equals_clip_mode_until_the_window_is_full(estimator):
    frames, stamps = images(CONFIG.clip_len), jittered_stamps(CONFIG.clip_len)
    results = [estimator.step(image, stamp) for image, stamp in zip(frames, stamps, strict=True)]
    clip = estimator.run_clip(frames, stamps)

    assert [r.state for r in results] == [WARMING_UP] * (CONFIG.clip_len - 1) + [TRACKING]
    first = results[0]
    assert first.previous_stamp is None and first.translation is None
    np.testing.assert_array_equal(first.world_from_cam, np.eye(4))
    streamed = np.stack([r.latent for r in results[1:]])  # (T-1, 50)
    np.testing.assert_allclose(streamed, clip["bottleneck_codes"], rtol=0, atol=1e-5)
    # The pose head is non-causal: only the newest pair of the full clip is comparable.
    last = results[-1]
    np.testing.assert_allclose(last.translation, clip["translation"][-1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(last.quaternion, clip["quaternion"][-1], rtol=0, atol=1e-5)
    assert last.scale == pytest.approx(float(clip["scale"]), abs=1e-5)
    assert last.previous_stamp == stamps[-2]


def test_accumulated_pose_chains_the_relative_motions(estimator):
    results = [estimator.step(image, 0.5 * i) for i, image in enumerate(images(8))]
    world_from_cam = np.eye(4)
    for result in results[1:]:
        motion = pose_from_translation_quaternion(result.translation, result.quaternion)
        world_from_cam = world_from_cam @ motion
        np.testing.assert_allclose(result.world_from_cam, world_from_cam, atol=1e-12)
        scale = max(result.scale, 1.0)
        np.testing.assert_allclose(result.translation, result.translation_normalized * scale)
        assert result.latent.shape == (50,)
    assert estimator.stream.frames_seen == 8  # beyond clip_len: the window slid
    assert all(c.length == CONFIG.clip_len for c in estimator.stream.caches)
    assert len(estimator.window_actions) == CONFIG.clip_len - 1


def revising(estimator: PoseEstimator, lag: int) -> PoseEstimator:
    estimator.set_streaming(dataclasses.replace(CONFIG.streaming, fixed_lag=lag))
    return estimator


def test_a_pair_is_revised_until_fixed_lag_later_pairs_have_come(estimator):
    """With streaming.fixed_lag L a pair's motion is final from the window where L later pairs
    follow it (while that window is not full, clip mode over the same frames gives it); until
    then each step's window revises it. world_from_cam chains each pair as first reported."""
    lag = 2
    revising(estimator, lag)
    frames, stamps = images(10), [0.5 * i for i in range(10)]
    results = [estimator.step(image, stamp) for image, stamp in zip(frames, stamps, strict=True)]

    assert [len(r.recent_motions) for r in results] == [0, 1, 2, 3, 3, 3, 3, 3, 3, 3]
    latest, first_reported = [], []
    for result in results[1:]:
        newest = pose_from_translation_quaternion(result.translation, result.quaternion)
        np.testing.assert_allclose(result.recent_motions[-1], newest, atol=1e-12)
        keep_latest_motions(latest, result)
        first_reported.append(newest)
        np.testing.assert_allclose(result.world_from_cam, chain_relative_poses(first_reported)[-1])
    assert not np.allclose(chain_relative_poses(latest)[-1], results[-1].world_from_cam)
    # pair 0 is final when pair 2 comes (frame 3): clip mode over frames 0-3
    clip = estimator.run_clip(frames[: lag + 2], stamps[: lag + 2])
    final = pose_from_translation_quaternion(clip["translation"][0], clip["quaternion"][0])
    np.testing.assert_allclose(results[lag + 1].recent_motions[0], final, atol=1e-5)
    np.testing.assert_allclose(latest[0], final, atol=1e-5)  # and stays so
    # the pairs it revised change: a later window reads them anew
    assert not np.allclose(results[lag + 1].recent_motions[1], results[lag].recent_motions[1])


def test_fixed_lag_zero_reports_each_pair_once_and_the_lag_stays_in_the_window(estimator):
    first = [estimator.step(image, 0.5 * i) for i, image in enumerate(images(6))]
    assert [len(r.recent_motions) for r in first] == [0, 1, 1, 1, 1, 1]
    revising(estimator, 99)
    assert estimator.config.fixed_lag == CONFIG.clip_len - 2  # older pairs have left the window
    results = [estimator.step(image, 0.5 * i) for i, image in enumerate(images(9))]
    assert max(len(r.recent_motions) for r in results) == CONFIG.clip_len - 1


def test_frames_between_target_stamps_are_skipped(estimator):
    frames = images(3)
    assert estimator.step(frames[0], 0.0) is not None
    assert estimator.step(frames[1], 0.1) is None  # too soon at 2 fps
    assert estimator.step(frames[1], 0.1) is None  # duplicate
    result = estimator.step(frames[2], 0.5)
    assert result.previous_stamp == 0.0 and result.state == WARMING_UP


@pytest.mark.parametrize("restart_stamp", [1.0, 20.0], ids=["backwards", "gap"])
def test_time_going_backwards_or_jumping_restarts_the_track(estimator, restart_stamp):
    frames = images(8)
    for i in range(5):
        estimator.step(frames[i], 10.0 + 0.5 * i)
    # a new timeline restarts the track once it persists: its first two frames are outliers
    assert estimator.step(frames[5], restart_stamp - 0.2) is None
    assert estimator.step(frames[5], restart_stamp - 0.1) is None
    assert estimator.stream.frames_seen == 5  # outliers leave the track untouched
    restarted = estimator.step(frames[5], restart_stamp)
    assert restarted.state == RESET
    assert restarted.previous_stamp is None and restarted.translation is None
    np.testing.assert_array_equal(restarted.world_from_cam, np.eye(4))
    assert estimator.stream.frames_seen == 1 and not estimator.window_actions
    following = [estimator.step(frames[i], restart_stamp + 0.5 * (i - 5)) for i in (6, 7)]
    assert [r.state for r in following] == [WARMING_UP, WARMING_UP]
    # Nothing from before the restart leaks in: streaming equals clip mode on the new track.
    stamps = [restart_stamp, restart_stamp + 0.5, restart_stamp + 1.0]
    clip = estimator.run_clip(frames[5:8], stamps)
    streamed = np.stack([r.latent for r in following])
    np.testing.assert_allclose(streamed, clip["bottleneck_codes"], rtol=0, atol=1e-5)


def test_reset_forgets_the_track(estimator):
    frames = images(3)
    estimator.step(frames[0], 0.0)
    estimator.step(frames[1], 0.5)
    estimator.reset()
    result = estimator.step(frames[2], 0.0)  # not a backwards jump any more
    assert result.state == WARMING_UP and result.previous_stamp is None


def test_estimator_loads_from_a_posttrainer_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = LAPosePosttrainer(CONFIG)
    path = save_checkpoint(tmp_path / "model.pt", model, CONFIG)
    loaded = PoseEstimator.from_checkpoint(str(path), device="cpu", precision="bf16")
    direct = PoseEstimator(model.inverse_dynamics, model.pose_head, CONFIG, device="cpu")
    frames = images(2)
    for estimator in (loaded, direct):
        estimator.step(frames[0], 0.0)
    np.testing.assert_array_equal(  # bf16 is CUDA-only: on CPU it runs in fp32
        loaded.step(frames[1], 0.5).latent, direct.step(frames[1], 0.5).latent
    )
    head_only = save_checkpoint(tmp_path / "head.pt", model.pose_head, CONFIG)
    with pytest.raises(ValueError, match="holds no pose estimator"):
        PoseEstimator.from_checkpoint(str(head_only))
    with pytest.raises(ValueError, match="precision"):
        PoseEstimator(model.inverse_dynamics, model.pose_head, CONFIG, precision="fp16")


def test_streaming_settings_from_the_checkpoint_call_or_later(tmp_path):
    import dataclasses

    torch.manual_seed(0)
    model = LAPosePosttrainer(CONFIG)
    path = save_checkpoint(tmp_path / "model.pt", model, CONFIG)
    streaming = dataclasses.replace(CONFIG.streaming, target_fps=1.0)
    loaded = PoseEstimator.from_checkpoint(str(path), device="cpu", streaming=streaming)
    assert loaded.config.streaming == streaming and loaded.config.clip_len == CONFIG.clip_len
    later = PoseEstimator.from_checkpoint(str(path), device="cpu")
    later.step(images(1)[0], 0.0)
    later.set_streaming(streaming)  # forgets the track, selects at 1 fps from now on
    for estimator in (loaded, later):
        used = [estimator.step(image, 0.5 * i) for i, image in enumerate(images(5))]
        assert [result is not None for result in used] == [True, False, True, False, True]
        assert used[0].previous_stamp is None


def test_to_moves_the_modules_and_forgets_the_track(estimator):
    frames = images(3)
    estimator.step(frames[0], 0.0)
    estimator.step(frames[1], 0.5)
    assert estimator.to("cpu") is estimator and estimator.device == torch.device("cpu")
    assert next(estimator.inverse_dynamics.parameters()).device == torch.device("cpu")
    result = estimator.step(frames[2], 0.0)  # a new track, not a backwards jump
    assert result.state == WARMING_UP and result.previous_stamp is None


def test_mirror_averaging_is_the_mean_of_the_frames_and_their_mirror_image():
    """With ``streaming.mirror_average`` each pair's motion is the mean of the plain
    estimator's motion on the frames and, mirrored back, on the flipped frames; so on flipped
    frames it gives exactly the mirrored motions (what the model adds either way cancels)."""
    frames, stamps = images(CONFIG.clip_len + 2), jittered_stamps(CONFIG.clip_len + 2)
    flipped = [np.ascontiguousarray(image[:, ::-1]) for image in frames]
    averaged_config = dataclasses.replace(
        CONFIG, streaming=dataclasses.replace(CONFIG.streaming, mirror_average=True)
    )

    def run(config, sequence) -> list:
        torch.manual_seed(0)
        estimator = PoseEstimator(InverseDynamics(CONFIG), PoseHead(CONFIG), config, "cpu")
        return [estimator.step(image, stamp) for image, stamp in zip(sequence, stamps, strict=True)]

    plain, plain_flipped = run(CONFIG, frames), run(CONFIG, flipped)
    averaged, averaged_flipped = run(averaged_config, frames), run(averaged_config, flipped)
    for p, pf, a, af in zip(plain[1:], plain_flipped[1:], averaged[1:], averaged_flipped[1:],
                            strict=True):  # fmt: skip
        mean = 0.5 * (p.translation + mirror_translation(pf.translation))
        np.testing.assert_allclose(a.translation, mean, atol=1e-6)
        q0, q1 = p.quaternion, mirror_quaternion(pf.quaternion)
        q = q0 + np.sign(np.dot(q0, q1)) * q1  # the mean on one hemisphere
        assert abs(np.dot(a.quaternion, q / np.linalg.norm(q))) == pytest.approx(1.0, abs=1e-6)
        assert a.quaternion[3] >= 0
        assert a.scale == pytest.approx(0.5 * (p.scale + pf.scale), abs=1e-6)
        np.testing.assert_allclose(af.translation, mirror_translation(a.translation), atol=1e-6)
        assert abs(np.dot(af.quaternion, mirror_quaternion(a.quaternion))) == pytest.approx(1.0)
        np.testing.assert_allclose(a.latent, p.latent, atol=1e-6)  # the unflipped view's code
    assert not np.allclose(averaged[-1].translation, plain[-1].translation, atol=1e-4)


def test_the_camera_fov_from_the_intrinsics_reaches_the_pose_head():
    """A head with ``camera_fov_input`` is told the model input's vertical FoV, computed from
    the full image's intrinsics; streaming and clip mode agree on it; unknown is NaN."""
    from la_pose_core.data.kitti import CameraIntrinsics
    from la_pose_core.geometry import input_vertical_fov

    head_config = dataclasses.replace(CONFIG.pose_head, camera_fov_input=True)
    config = dataclasses.replace(CONFIG, pose_head=head_config)
    torch.manual_seed(0)
    head = PoseHead(config)
    for parameter in head.camera_fov.parameters():
        torch.nn.init.normal_(parameter)
    estimator = PoseEstimator(InverseDynamics(config), head, config, device="cpu")
    assert torch.isnan(estimator.camera_fov_tensor(2)).all()
    intrinsics = CameraIntrinsics(fx=600.0, fy=600.0, cx=60.0, cy=25.0, width=120, height=50)
    estimator.set_camera_intrinsics(intrinsics)
    expected = input_vertical_fov(600.0, 50, 120, config.image_height, config.image_width)
    assert estimator.camera_fov == pytest.approx(expected)
    frames, stamps = images(config.clip_len), jittered_stamps(config.clip_len)

    def last_quaternion(fov):
        estimator.set_camera_fov(fov)
        estimator.reset()
        results = [
            estimator.step(image, stamp) for image, stamp in zip(frames, stamps, strict=True)
        ]
        return results[-1].quaternion

    narrow = last_quaternion(expected)
    assert estimator.camera_fov == pytest.approx(expected)  # reset keeps the camera's FoV
    clip = estimator.run_clip(frames, stamps)
    np.testing.assert_allclose(narrow, clip["quaternion"][-1], rtol=0, atol=1e-5)
    assert not np.allclose(narrow, last_quaternion(1.2), atol=1e-4)
    assert not np.allclose(narrow, last_quaternion(None), atol=1e-4)
    with pytest.raises(ValueError, match="camera FoV"):
        estimator.set_camera_fov(4.0)
