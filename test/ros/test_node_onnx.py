"""The node on ONNX Runtime (``model.runtime: onnxruntime``): in its own process, fed the real
KITTI frames over ROS 2, it publishes every output from the checkpoint's ONNX export; a missing
or foreign export is one configuration error."""

import pytest

from la_pose_core.data import KittiSequence
from la_pose_core.export.exporter import export_onnx
from la_pose_core.export.manifest import default_export_folder
from la_pose_core.inference.estimator import estimator_modules
from la_pose_core.model.checkpoint import load_checkpoint
from la_pose_core.model.config import RefinementConfig
from la_pose_ros.pipeline import ConfigurationError, load_estimator
from la_pose_ros.settings import ModelSettings
from test.ros.harness import Client, NodeProcess, free_domain_id, write_test_checkpoint
from test.ros.test_node import TARGET_FPS, Feeder, assert_outputs_follow_inputs


def exported_checkpoint(folder, seed: int = 0):
    """A tiny checkpoint and its ONNX export in the default folder beside it."""
    checkpoint = write_test_checkpoint(folder / "tiny.pt", seed=seed)
    loaded = load_checkpoint(checkpoint)
    modules = estimator_modules(loaded, str(checkpoint))
    export_onnx(*modules, loaded.config, default_export_folder(checkpoint), str(checkpoint))
    return checkpoint


@pytest.fixture(scope="module")
def onnx_node(tmp_path_factory, kitti_sample):
    folder = tmp_path_factory.mktemp("onnx_node")
    checkpoint = exported_checkpoint(folder)
    domain_id = free_domain_id()
    overrides = {
        "model.checkpoint": checkpoint,
        "model.device": "cpu",
        "model.runtime": "onnxruntime",  # model.onnx_dir "": the export beside the checkpoint
        "streaming.target_fps": TARGET_FPS,
        "frames.camera_frame": "camera_optical",
        "output.diagnostics_period_s": 0.05,
        "input.qos_reliability": "reliable",
    }
    node = NodeProcess(domain_id, overrides, folder / "node.log")
    client = Client(domain_id)
    assert client.wait_for_subscriber(60), node.output()
    feeder = Feeder(client, KittiSequence(kitti_sample))
    feeder.prime()
    yield node, client, feeder
    client.close()
    assert node.stop() == 0, node.output()


def test_the_node_on_onnxruntime_produces_every_output_with_input_stamps(onnx_node):
    node, client, feeder = onnx_node
    before = dict(feeder.counters)
    sent = feeder.publish(16)  # past the 6-frame window
    assert_outputs_follow_inputs(client, feeder, sent, before, min_used=8)
    assert "configure failed" not in node.output()


def test_a_missing_export_fails_configure_with_a_clear_error(tmp_path):
    checkpoint = write_test_checkpoint(tmp_path / "tiny.pt")  # no tiny.onnx beside it
    domain_id = free_domain_id()
    overrides = {"model.checkpoint": checkpoint, "model.runtime": "onnxruntime"}
    node = NodeProcess(domain_id, overrides, tmp_path / "node.log")
    client = Client(domain_id)
    try:
        assert client.wait_for(lambda: "configure failed" in node.output(), 60), node.output()
        assert "tiny.onnx" in node.output() and "no such folder" in node.output()
        assert client.lifecycle_state() == "unconfigured"
    finally:
        client.close()
        node.stop()


def test_load_estimator_names_the_runtime_and_the_folder(tmp_path):
    checkpoint = str(exported_checkpoint(tmp_path))
    estimator = load_estimator(
        ModelSettings(checkpoint, "cpu", runtime="onnxruntime"), RefinementConfig()
    )
    assert estimator.runtime == "onnxruntime"
    with pytest.raises(ConfigurationError, match=r"model\.runtime must be one of"):
        load_estimator(ModelSettings(checkpoint, runtime="tensorrt"), RefinementConfig())
    other = write_test_checkpoint(tmp_path / "other.pt", seed=1)  # other weights, same config
    settings = ModelSettings(
        str(other), "cpu", runtime="onnxruntime", onnx_dir=str(tmp_path / "tiny.onnx")
    )
    with pytest.raises(ConfigurationError) as raised:
        load_estimator(settings, RefinementConfig())
    message = str(raised.value)
    assert message.startswith("model.runtime onnxruntime: ") and "\n" not in message
    assert "fingerprint" in message and "other weights" in message
