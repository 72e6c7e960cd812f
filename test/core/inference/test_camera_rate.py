"""Camera-rate output: interleaved streams assigned by stamp, chained into one trajectory."""

import numpy as np
import pytest
import torch

from la_pose_core.geometry import pose_from_translation_quaternion
from la_pose_core.inference.camera_rate import CameraRateEstimator, online_estimator
from la_pose_core.inference.estimator import RESET, PoseEstimator
from la_pose_core.inference.pose_history import interpolate_pose
from la_pose_core.model.config import OutputRateConfig, get_config
from la_pose_core.model.inverse_dynamics import InverseDynamics
from la_pose_core.model.pose_head import PoseHead

CONFIG = get_config("tiny")  # streaming: 2 fps, tolerance 0.1, max gap 1.5 s
CAMERA = OutputRateConfig(mode="camera", max_hz=30.0)


@pytest.fixture
def estimator() -> PoseEstimator:
    torch.manual_seed(0)
    return PoseEstimator(InverseDynamics(CONFIG), PoseHead(CONFIG), CONFIG, device="cpu")


def images(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (50, 120, 3), dtype=np.uint8) for _ in range(count)]


def camera_stamps(count: int, rate_hz: float = 10.0, start: float = 100.0) -> list[float]:
    return [round(start + index / rate_hz, 6) for index in range(count)]


def run(estimator, stamps: list[float], seed: int = 0) -> dict:
    """Feed one image per stamp; stamp -> result for the reported frames."""
    results = {}
    for image, stamp in zip(images(len(stamps), seed), stamps, strict=True):
        result = estimator.step(image, stamp)
        if result is not None:
            results[stamp] = result
    return results


def motion(result) -> np.ndarray:
    return pose_from_translation_quaternion(result.translation, result.quaternion)


def assert_one_trajectory(results: dict) -> None:
    """Every pair is chained onto the reported pose of its earlier frame, or, for a frame that
    began a stream (not reported), onto the pose interpolated between its reported
    neighbours."""
    reported = sorted(results)
    for stamp, result in results.items():
        if result.previous_stamp is None:
            continue
        previous = result.previous_stamp
        if previous in results:
            anchor = results[previous].world_from_cam
        else:
            before = max(s for s in reported if s < previous)
            after = min(s for s in reported if s > previous)
            fraction = (previous - before) / (after - before)
            anchor = interpolate_pose(
                results[before].world_from_cam, results[after].world_from_cam, fraction
            )
        expected = anchor @ motion(result)
        np.testing.assert_allclose(result.world_from_cam, expected, atol=1e-12, err_msg=stamp)


def test_every_camera_frame_after_warm_up_is_one_step_of_one_stream(estimator):
    camera = CameraRateEstimator(estimator, CAMERA)
    stamps = camera_stamps(30)  # 3 s at 10 Hz
    results = run(camera, stamps)
    # warm-up: the first frame (identity), then nothing until the first pair, 1/f = 0.5 s on
    assert sorted(results) == [stamps[0], *stamps[5:]]
    np.testing.assert_array_equal(results[stamps[0]].world_from_cam, np.eye(4))
    assert results[stamps[0]].previous_stamp is None
    # k = round(10 / 2) = 5 streams, each taking every fifth frame: pairs span 0.5 s
    assert len(camera.streams) == 5
    for stamp in stamps[5:]:
        assert results[stamp].previous_stamp == pytest.approx(stamp - 0.5, abs=1e-9)
    assert sum(stream.stream.frames_seen for stream in camera.streams) == len(stamps)
    assert_one_trajectory(results)


def test_the_model_rate_frames_get_exactly_the_model_rate_chain(estimator):
    """Stream 0 sees the frames the model-rate estimator uses: the same poses there, so the
    camera-rate trajectory only adds the frames in between."""
    stamps = camera_stamps(40)
    camera_results = run(CameraRateEstimator(estimator.fork(), CAMERA), stamps)
    model_results = run(estimator, stamps)
    assert sorted(model_results) == stamps[::5]
    for stamp, result in model_results.items():
        np.testing.assert_allclose(
            camera_results[stamp].world_from_cam, result.world_from_cam, atol=1e-12
        )


def test_a_dropped_frame_lengthens_one_pair_and_keeps_one_trajectory(estimator):
    camera = CameraRateEstimator(estimator, CAMERA)
    stamps = camera_stamps(40)
    dropped = stamps[10]  # 101.0: stream 0's frame
    kept = [stamp for stamp in stamps if stamp != dropped]
    results = run(camera, kept)
    assert sorted(results) == [kept[0], *kept[5:]]  # every frame after warm-up but the drop
    # frames are assigned by stamp: 101.1 goes to the stream due 0.5 s before it, and stream
    # 0 waits for 101.5, its pair spanning 1 s (still a trained frame rate)
    assert results[101.1].previous_stamp == 100.6
    assert results[101.5].previous_stamp == 100.5
    intervals = [r.stamp - r.previous_stamp for r in results.values() if r.previous_stamp]
    assert min(intervals) >= 0.45 - 1e-9 and max(intervals) <= 1.0 + 1e-9
    assert_one_trajectory(results)


def test_reset_starts_a_new_track_at_the_identity_with_a_new_warm_up(estimator):
    camera = CameraRateEstimator(estimator, CAMERA)
    run(camera, camera_stamps(12))
    camera.reset()
    stamps = camera_stamps(8, start=200.0)
    results = run(camera, stamps)
    assert sorted(results) == [stamps[0], *stamps[5:]]
    first = results[stamps[0]]
    assert first.previous_stamp is None and first.translation is None
    np.testing.assert_array_equal(first.world_from_cam, np.eye(4))
    assert len(camera.streams) == 5


def test_a_gap_restarts_tracking_once_the_new_timeline_persists(estimator):
    camera = CameraRateEstimator(estimator, CAMERA)
    before = camera_stamps(12)
    after = camera_stamps(10, start=before[-1] + 3.0)  # a 3 s gap > max_gap_s
    results = run(camera, before + after)
    # the first two frames after the gap are outliers; the third restarts at the identity
    assert after[0] not in results and after[1] not in results
    restart = results[after[2]]
    assert restart.state == RESET and restart.previous_stamp is None
    np.testing.assert_array_equal(restart.world_from_cam, np.eye(4))
    assert [s for s in after if s in results] == [after[2], *after[7:]]  # warm-up again
    assert results[after[7]].previous_stamp == after[2]


def test_a_lone_outlier_stamp_is_not_used_and_the_track_goes_on(estimator):
    camera = CameraRateEstimator(estimator, CAMERA)
    stamps = camera_stamps(12)
    run(camera, stamps)
    frames_before = sum(stream.stream.frames_seen for stream in camera.streams)
    assert camera.step(images(1)[0], stamps[-1] + 1e6) is None
    assert sum(stream.stream.frames_seen for stream in camera.streams) == frames_before
    result = camera.step(images(1)[0], round(stamps[-1] + 0.1, 6))
    assert result.previous_stamp == pytest.approx(stamps[-1] + 0.1 - 0.5, abs=1e-9)


def test_the_rate_cap_thins_the_camera_frames_by_stamp(estimator):
    camera = CameraRateEstimator(estimator, OutputRateConfig(mode="camera", max_hz=10.0))
    stamps = camera_stamps(90, rate_hz=30.0)  # 3 s at 30 Hz
    results = run(camera, stamps)
    reported = sorted(results)[1:]  # after the identity frame
    assert np.allclose(np.diff(reported), 0.1, atol=1e-6)  # every third frame: 10 Hz
    assert len(camera.streams) == 5 <= camera.max_streams


def test_thirty_hertz_at_two_fps_stays_within_the_stream_bound(estimator):
    camera = CameraRateEstimator(estimator, CAMERA)
    stamps = camera_stamps(60, rate_hz=30.0)
    results = run(camera, stamps)
    # each stream on its selector's schedule of 1/f = 0.5 s: frame 14 (0.467 s, within the
    # tolerance) is stream 0's second; no stream is due at frame 28 (0.933 s), which begins a
    # 15th; from then on every stream's pairs are 15 frames, 0.5 s
    assert len(camera.streams) == 15 <= camera.max_streams == 16
    assert sorted(results) == [stamps[0], *stamps[14:28], *stamps[29:]]
    assert all(
        result.stamp - result.previous_stamp == pytest.approx(0.5, abs=1e-6)
        for stamp, result in results.items()
        if stamp > stamps[29]
    )
    assert_one_trajectory(results)


def test_online_estimator_follows_the_mode(estimator):
    assert online_estimator(estimator, OutputRateConfig()) is estimator
    camera = online_estimator(estimator, CAMERA)
    assert isinstance(camera, CameraRateEstimator) and camera.base is estimator
    assert camera.config is estimator.config and camera.device == estimator.device
    with pytest.raises(ValueError, match=r"output_rate\.mode"):
        OutputRateConfig(mode="fast")
    with pytest.raises(ValueError, match="max_hz"):
        OutputRateConfig(mode="camera", max_hz=0.0)


def test_forks_share_the_modules_and_keep_their_own_tracks(estimator):
    fork = estimator.fork()
    assert fork.inverse_dynamics is estimator.inverse_dynamics
    assert fork.pose_head is estimator.pose_head
    run(fork, camera_stamps(6, rate_hz=2.0))
    assert fork.stream.frames_seen == 6 and estimator.stream.frames_seen == 0
    assert fork.stream.caches is not estimator.stream.caches
    assert estimator.previous_stamp is None and len(estimator.window_actions) == 0
