"""Test-time translation refinement (``refinement.*``, ``bag replay --refine``) in the ROS layer.

In process (no node processes): the shipped demo model with a refinement file of an untrained
pose encoder and a bank of pure forward motions (:func:`write_refinement_checkpoint`), so every
refined translation, an affine combination of bank translations, lies on the optical axis.
"""

import argparse
import json
import time

import numpy as np
import pytest
import rclpy
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.serialization import serialize_message

from la_pose_core.cli.common import CommandError
from la_pose_core.data import KittiSequence
from la_pose_core.model.config import RefinementConfig
from la_pose_ros.bags.cli import register
from la_pose_ros.bags.from_sequence import sequence_to_bag
from la_pose_ros.bags.reader import open_bag
from la_pose_ros.messages import image_message, seconds_to_time
from la_pose_ros.node import LaPoseNode
from la_pose_ros.pipeline import ConfigurationError, OdometryPipeline, load_estimator
from la_pose_ros.settings import ModelSettings, NodeSettings
from test.ros.harness import DEMO_MODEL, free_domain_id, write_refinement_checkpoint

MODEL = ModelSettings(str(DEMO_MODEL), device="cpu")


@pytest.fixture(scope="module")
def refinement_files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("refinement")
    return {
        "fits": str(write_refinement_checkpoint(folder / "encoder.pt")),
        "foreign": str(write_refinement_checkpoint(folder / "foreign.pt", foreign=True)),
    }


@pytest.fixture(scope="module")
def image_messages(kitti_sample) -> list:
    """KITTI frames 0.5 s apart: the demo model (2 fps) uses every one."""
    sequence = KittiSequence(kitti_sample)
    return [
        image_message(sequence.image(i), seconds_to_time(1000.0 + 0.5 * i), "camera")
        for i in range(6)
    ]


def run(pipeline: OdometryPipeline, messages: list) -> list:
    outputs = [pipeline.process(message) for message in messages]
    assert all(output is not None for output in outputs)
    return outputs


def test_the_pipeline_publishes_refined_translations_on_the_bank_line(
    refinement_files, image_messages
):
    refinement = RefinementConfig(refinement_files["fits"], k=3)
    estimator = load_estimator(MODEL, refinement)
    refined = run(OdometryPipeline(estimator, NodeSettings(refinement=refinement)), image_messages)
    plain = run(
        OdometryPipeline(load_estimator(MODEL, RefinementConfig()), NodeSettings()), image_messages
    )
    pairs = 0
    for with_refinement, without in zip(refined[1:], plain[1:], strict=True):
        result = with_refinement.result
        # the head is untouched by refinement: the plain estimator's translation
        assert without.result.translation_head is None and without.result.refinement_ms is None
        np.testing.assert_allclose(result.translation_head, without.result.translation, atol=1e-6)
        # refined: an affine combination of forward-only bank motions, so on the optical axis
        np.testing.assert_allclose(result.translation[:2], 0.0, atol=1e-12)
        assert abs(result.translation[2]) > 0.0
        assert np.linalg.norm(result.translation - result.translation_head) > 1e-4
        assert result.refinement_ms is not None and result.refinement_ms >= 0.0
        if "relative_pose" in with_refinement.messages:  # published: the refined translation
            published = with_refinement.messages["relative_pose"].translation
            xyz = [published.x, published.y, published.z]
            np.testing.assert_array_equal(xyz, result.translation)
            pairs += 1
    assert pairs >= 4
    # once per estimate of a pair: when it comes, and while it is revised (the checkpoint's
    # streaming.fixed_lag)
    estimates = sum(len(output.result.recent_motions) for output in refined)
    assert estimates > len(image_messages) - 1
    assert estimator.refiner.calls == estimates and estimator.refiner.mean_ms > 0.0


def test_a_refinement_file_that_does_not_fit_fails_with_a_clear_error(refinement_files, tmp_path):
    foreign = refinement_files["foreign"]
    with pytest.raises(ConfigurationError, match="another inverse dynamics model") as error:
        load_estimator(MODEL, RefinementConfig(foreign))
    assert foreign in str(error.value) and str(DEMO_MODEL) in str(error.value)
    with pytest.raises(ConfigurationError, match=r"refinement\.checkpoint: no such file"):
        load_estimator(MODEL, RefinementConfig(str(tmp_path / "missing.pt")))
    with pytest.raises(ConfigurationError, match="k must be in"):
        load_estimator(MODEL, RefinementConfig(refinement_files["fits"], k=301))  # bank: 300


def test_the_node_refuses_a_foreign_refinement_file_and_reports_refinement(
    refinement_files, image_messages, capfd
):
    """The real node in this process: configure fails on a file made for another backbone,
    succeeds on a fitting one, and /diagnostics then reports the refinement and its cost."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=free_domain_id())
    overrides = {
        "model.checkpoint": str(DEMO_MODEL),
        "model.device": "cpu",
        "refinement.checkpoint": refinement_files["foreign"],
        "refinement.k": 2,
    }
    node = LaPoseNode(
        context=context,
        parameter_overrides=[Parameter(name, value=value) for name, value in overrides.items()],
    )
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        logged = capfd.readouterr().err
        assert "configure failed" in logged and "another inverse dynamics model" in logged
        node.set_parameters([Parameter("refinement.checkpoint", value=refinement_files["fits"])])
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        for message in image_messages[:4]:
            node.process(serialize_message(message), time.monotonic())  # as the callback
        status = node.diagnostics_message().status[0]
        values = {item.key: item.value for item in status.values}
        assert values["refinement"] == "encoder.pt" and values["refinement_k"] == "2"
        # 3 pairs, each refined once per estimate (the node's streaming.fixed_lag 3): 1 + 2 + 3
        assert values["refinement_pairs"] == "6" and float(values["refinement_ms_mean"]) > 0.0
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def bag_command(*arguments: str) -> int:
    """``la-pose bag ...`` in this process (the bag tools' own parser)."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bag", *arguments])
    return args.run(args)


def test_replay_with_refine_records_the_refinement_and_its_cost(
    kitti_sample, refinement_files, tmp_path, capsys
):
    sequence_to_bag(kitti_sample, tmp_path / "in", "mcap", max_frames=20)  # 2 s at 10 Hz
    common = ["replay", str(tmp_path / "in"), "--checkpoint", str(DEMO_MODEL), "--device", "cpu"]
    common += ["--gt-topic", "/ground_truth/odometry"]
    refine = ["--refine", refinement_files["fits"], "--refine-k", "2"]
    assert bag_command(*common, "--out", str(tmp_path / "out"), *refine) == 0
    summary = json.loads(capsys.readouterr().out)
    refinement = summary["refinement"]
    assert refinement["checkpoint"] == refinement_files["fits"] and refinement["k"] == 2
    # refined once per estimate of a pair: the k-th pair has min(k, 1 + the checkpoint's
    # streaming.fixed_lag 3) of them
    assert summary["used"] - 1 >= 3 and refinement["mean_ms"] > 0.0
    assert refinement["pairs"] == sum(min(k, 4) for k in range(1, summary["used"]))
    metrics = json.loads((tmp_path / "out_report/metrics.json").read_text())
    assert metrics["refinement"] == refinement
    # the published odometry, and the revised odometry beside it
    assert {"LA-Pose (replay)", "LA-Pose (replay, revised)"} <= set(metrics["methods"])
    assert (
        summary["metrics_revised"]["auc5"]
        == metrics["methods"]["LA-Pose (replay, revised)"]["auc5"]
    )
    with open_bag(tmp_path / "out") as reader:
        relative = [
            reader.deserialize(raw, connection.msgtype)
            for connection, _, raw in reader.messages()
            if connection.topic == "/la_pose/relative_pose"
        ]
        revised = [c.msgcount for c in reader.connections if c.topic == "/la_pose/odometry/revised"]
    assert len(relative) == summary["used"] - 1  # one relative pose per pair, as it comes
    assert revised == [summary["used"]]  # every used frame once its pair is final
    assert all(m.translation.x == 0.0 and m.translation.y == 0.0 for m in relative)

    with pytest.raises(CommandError, match="another inverse dynamics model"):
        bag_command(*common, "--out", str(tmp_path / "o2"), "--refine", refinement_files["foreign"])
