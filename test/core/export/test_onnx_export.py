"""``la_pose_core.export``: the exported streaming step and pose head equal torch's, streamed."""

import json

import numpy as np
import pytest
import torch

from la_pose_core.export.manifest import (
    GRAPH_NAMES,
    MANIFEST_NAME,
    ExportManifest,
    NotAnExportError,
)
from la_pose_core.export.runtime import ExportedModel
from la_pose_core.export.verify import compare_streams, random_frames
from la_pose_core.inference.estimator import PoseEstimator, estimator_modules
from la_pose_core.model.checkpoint import load_checkpoint

TOLERANCE = 1e-4


def test_the_manifest_names_the_graphs_their_interfaces_and_the_weights(exported):
    checkpoint, folder = exported
    manifest = ExportManifest.read(folder)
    loaded = load_checkpoint(checkpoint)
    assert manifest.config == loaded.config.to_dict() and manifest.opset == 18
    assert set(manifest.graphs) == set(GRAPH_NAMES)
    step = manifest.graphs["stream_step"]
    assert step.input_names[:5] == ["frame", "dt", "frame_index", "keys", "values"]
    assert step.output_names[:2] == ["latent_actions", "bottleneck_codes"]
    has_motion = loaded.config.inverse_dynamics.correlation_radius > 0
    assert ("previous_inputs" in step.input_names) == has_motion
    head = manifest.graphs["pose_head"]
    assert head.inputs[0].shape[1] == "pairs"  # dynamic: the window grows while warming up
    assert set(manifest.fingerprints) == {"inverse_dynamics", "pose_head"}


def test_streamed_latent_actions_and_poses_equal_torch_past_the_window(exported):
    checkpoint, folder = exported
    loaded = load_checkpoint(checkpoint)
    backbone, head = estimator_modules(loaded, str(checkpoint))
    frames, dt = random_frames(loaded.config, 3 * loaded.config.clip_len)  # frames leave it
    dt = dt * torch.linspace(0.6, 1.4, len(dt))  # uneven intervals reach the dt embedding
    comparison = compare_streams(backbone, head, ExportedModel(folder), frames, dt, TOLERANCE)
    assert comparison.pairs == len(frames) - 1
    assert comparison.within_tolerance, comparison.to_dict()


@pytest.mark.parametrize("mirror_average", [False, True], ids=["plain", "mirror_average"])
def test_the_estimator_on_onnxruntime_gives_torch_trajectory(
    exported, kitti_sample, mirror_average
):
    import dataclasses

    from la_pose_core.data.kitti import KittiSequence

    checkpoint, _folder = exported
    estimators = {
        runtime: PoseEstimator.from_checkpoint(str(checkpoint), "cpu", runtime=runtime)
        for runtime in ("torch", "onnxruntime")
    }  # onnxruntime: the export beside the checkpoint, by default
    sequence = KittiSequence(kitti_sample)
    for estimator in estimators.values():  # revising pairs too: every pair's output is read
        streaming = dataclasses.replace(
            estimator.config.streaming, mirror_average=mirror_average, fixed_lag=2
        )
        estimator.set_streaming(streaming)
        estimator.set_camera_intrinsics(sequence.intrinsics)  # read by tiny_xfeat's head
    assert estimators["onnxruntime"].runtime == "onnxruntime"
    results = {name: [] for name in estimators}
    for index in range(0, 90, 5):  # 18 frames at 2 fps, every one used: the window (6) slides
        for name, estimator in estimators.items():
            results[name].append(estimator.step(sequence.image(index), sequence.stamps[index]))
    assert all(result is not None for result in results["torch"])
    for expected, found in zip(results["torch"], results["onnxruntime"], strict=True):
        assert found.state == expected.state
        np.testing.assert_allclose(found.world_from_cam, expected.world_from_cam, atol=TOLERANCE)
        assert len(found.recent_motions) == len(expected.recent_motions)
        for found_motion, motion in zip(found.recent_motions, expected.recent_motions, strict=True):
            np.testing.assert_allclose(found_motion, motion, atol=TOLERANCE)
        if expected.latent is not None:
            np.testing.assert_allclose(found.latent, expected.latent, atol=TOLERANCE)
            assert found.fov == pytest.approx(expected.fov, abs=TOLERANCE)


def test_moving_the_estimator_keeps_the_exported_runtime(exported):
    checkpoint, _folder = exported
    estimator = PoseEstimator.from_checkpoint(str(checkpoint), "cpu", runtime="onnxruntime")
    estimator.to("cpu")
    assert estimator.runtime == "onnxruntime"
    assert estimator.exported.providers == ["CPUExecutionProvider"]
    image = np.zeros((32, 64), np.uint8)
    assert estimator.step(image, 0.0) is not None and estimator.step(image, 0.5).latent is not None


def _copy(folder, tmp_path):
    import shutil

    return shutil.copytree(folder, tmp_path / "copy.onnx")


def _one_line_error(checkpoint, folder) -> str:
    with pytest.raises(ValueError) as raised:
        PoseEstimator.from_checkpoint(
            str(checkpoint), "cpu", runtime="onnxruntime", onnx_dir=str(folder)
        )
    message = str(raised.value)
    assert "\n" not in message and str(folder) in message, message
    return message


def test_a_missing_folder_is_one_line(exported, tmp_path):
    checkpoint, _folder = exported
    assert "no such folder" in _one_line_error(checkpoint, tmp_path / "absent.onnx")


def test_a_folder_without_or_with_a_corrupt_manifest_is_one_line(exported, tmp_path):
    checkpoint, folder = exported
    copy = _copy(folder, tmp_path)
    (copy / MANIFEST_NAME).write_text("{not json")
    assert "does not read as JSON" in _one_line_error(checkpoint, copy)
    (copy / MANIFEST_NAME).write_text(json.dumps({"format": "something else"}))
    assert "format marker" in _one_line_error(checkpoint, copy)
    (copy / MANIFEST_NAME).unlink()
    assert f"no {MANIFEST_NAME}" in _one_line_error(checkpoint, copy)


def test_a_missing_or_corrupt_graph_is_one_line(exported, tmp_path):
    checkpoint, folder = exported
    copy = _copy(folder, tmp_path)
    graph = copy / "stream_step.onnx"
    graph.write_bytes(graph.read_bytes()[:1000])  # truncated
    assert "does not load" in _one_line_error(checkpoint, copy)
    graph.unlink()
    assert "no file stream_step.onnx" in _one_line_error(checkpoint, copy)


def test_an_export_of_other_weights_is_refused(exported, tmp_path):
    checkpoint, folder = exported
    copy = _copy(folder, tmp_path)
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    manifest["fingerprints"]["pose_head"] = "0" * 64
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    message = _one_line_error(checkpoint, copy)
    assert "pose_head fingerprint 000000000000" in message and "other weights" in message


def test_an_unknown_runtime_and_bf16_on_onnxruntime_are_refused(exported):
    checkpoint, _folder = exported
    with pytest.raises(ValueError, match="runtime must be one of"):
        PoseEstimator.from_checkpoint(str(checkpoint), "cpu", runtime="tensorflow")
    with pytest.raises(ValueError, match="fp32 graphs"):
        PoseEstimator.from_checkpoint(str(checkpoint), "cpu", "bf16", runtime="onnxruntime")


def test_not_an_export_error_is_a_value_error():
    assert issubclass(NotAnExportError, ValueError)
