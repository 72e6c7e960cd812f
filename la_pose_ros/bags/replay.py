"""``la-pose bag replay``: run a bag through the node's pipeline, as fast as possible.

The very same :class:`la_pose_ros.pipeline.OdometryPipeline` as the node (core estimator, core
vehicle odometry, the same message builders) processes every image of the bag in order. The
output is an mcap bag with every input topic (converted to ROS 2 CDR when the input is a ROS 1
bag) plus the node's outputs under the node's topic names. With a ground-truth topic
(nav_msgs/Odometry or geometry_msgs/PoseStamped of the vehicle) it also writes ``metrics.json``
and ``trajectory.png`` beside the output bag, as ``la-pose evaluate`` does.

The image and ground-truth topics are resolved (and the ground truth read) before the model is
loaded or anything is written, so a wrong topic fails at once. The output bag appears under its
name only when the whole replay (metrics included) succeeded; an existing one is refused unless
``overwrite``, which replaces it (and a stale ``OUT_report`` folder) at the end.

With camera-rate output (``output_rate``, the CLI's ``--output-rate camera``; or the settings'
``output_rate``) every image after the warm-up gives an output, as the node in that mode does,
and the metrics score that camera-rate trajectory.

The published odometry keeps each pair as first reported. Where the estimator revises pairs
(``streaming.fixed_lag`` > 0: the shipped checkpoint's, unless ``settings`` say otherwise; model
rate), the bag also holds the revised odometry (``/la_pose/odometry/revised``, each frame once
its pair is final; the last frames' at the end of the bag), and the metrics score it too, as
``la-pose evaluate`` scores each pair's last estimate: ``LA-Pose (replay, revised)`` in
``metrics.json``, ``metrics_revised`` in the summary.

With test-time translation refinement (``refinement``, the CLI's ``--refine``) the outputs carry
the refined translations, and the summary and ``metrics.json`` record the refinement file, its
``k`` and its mean cost per refined pair (``refinement.mean_ms``); ``"refinement": null`` when
it is off.
"""

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from rosbags.convert.converter import generate_message_converter
from tqdm import tqdm

from la_pose_core.baselines import constant_velocity_trajectory
from la_pose_core.data import associate_stamps
from la_pose_core.evaluation import write_report
from la_pose_core.evaluation.baselines import CONSTANT_VELOCITY
from la_pose_core.inference.estimator import PoseEstimator
from la_pose_core.metrics import EVAL_CLIP_LEN
from la_pose_core.model.config import OutputRateConfig, RefinementConfig
from la_pose_ros.bags.reader import (
    IMAGE_TYPES,
    POSE_TYPES,
    BadBag,
    choose_topic,
    first_camera_info,
    iter_images,
    open_bag,
    read_poses,
)
from la_pose_ros.bags.writer import BagWriter, check_output, remove_path
from la_pose_ros.image_decoding import BadImage
from la_pose_ros.pipeline import OdometryPipeline, load_estimator
from la_pose_ros.settings import ModelSettings, NodeSettings

LIVE = "LA-Pose (replay)"  # the published odometry, each pair as first reported
REVISED = "LA-Pose (replay, revised)"  # the revised odometry (streaming.fixed_lag > 0)
OUTPUT_TOPICS = {
    "odometry": "/la_pose/odometry",
    "odometry_revised": "/la_pose/odometry/revised",
    "path": "/la_pose/path",
    "relative_pose": "/la_pose/relative_pose",
    "latent_action": "/la_pose/latent_action",
    "tf": "/tf",
    "tf_static": "/tf_static",
}


def copy_input(reader, bag: BagWriter) -> int:
    """Copy every message of the input bag, converted to ROS 2 CDR where needed."""
    converters = {}
    count = 0
    for connection, stamp_ns, rawdata in reader.messages():
        if connection.msgtype not in converters:
            converters[connection.msgtype] = generate_message_converter(
                reader.typestore,
                bag.typestore,
                connection.msgtype,
                connection.msgtype,
                {},
                src_is2=reader.is2,
                dst_is2=True,
            )
        data = bytes(converters[connection.msgtype](rawdata))
        bag.write_cdr(connection.topic, connection.msgtype, data, stamp_ns)
        count += 1
    return count


@dataclass
class ReplayedImages:
    """What the pipeline made of the image topic's messages."""

    images: int = 0  # messages read
    rejected: Counter = field(default_factory=Counter)  # reason -> messages
    stamps: list[float] = field(default_factory=list)  # (N,) stamps of the used frames
    odom_from_base: list[np.ndarray] = field(default_factory=list)  # (4, 4) per used frame
    # (4, 4) per used frame: the revised odometry (streaming.fixed_lag > 0 at model rate)
    revised_odom_from_base: list[np.ndarray] = field(default_factory=list)


def replay_pipeline(
    model: ModelSettings,
    settings: NodeSettings | None,
    refinement: RefinementConfig | None,
    output_rate: OutputRateConfig | None = None,
) -> tuple[PoseEstimator, OdometryPipeline, RefinementConfig]:
    """The node's pipeline for the replay (see :func:`replay_bag`), and the refinement used."""
    if refinement is None:
        refinement = settings.refinement if settings else RefinementConfig()
    streaming = settings.streaming if settings else None
    estimator = load_estimator(model, refinement, streaming)
    settings = settings or NodeSettings(streaming=estimator.config.streaming)
    output_rate = output_rate or settings.output_rate
    settings = replace(settings, model=model, refinement=refinement, output_rate=output_rate)
    return estimator, OdometryPipeline(estimator, settings), refinement


def replay_images(reader, topic: str, pipeline: OdometryPipeline, bag: BagWriter) -> ReplayedImages:
    """Every image of ``topic`` through the pipeline, in order; its outputs written to ``bag``."""
    replayed = ReplayedImages()
    last_stamp_ns = 0  # the log time of the last frame's outputs
    total = sum(c.msgcount for c in reader.connections if c.topic == topic)
    for frame in tqdm(
        iter_images(reader, topic), total=total, desc="replay", unit="img", leave=False
    ):
        replayed.images += 1
        if frame.error is not None:
            replayed.rejected[frame.error.split(" (")[0]] += 1
            continue
        try:
            output = pipeline.process(frame.message)
        except BadImage as error:
            replayed.rejected[str(error).split(" (")[0]] += 1
            continue
        if output is None:
            continue
        for key, message in output.outgoing():
            bag.write(OUTPUT_TOPICS[key], message, frame.stamp_ns)
        replayed.stamps.append(output.result.stamp)
        replayed.odom_from_base.append(output.estimate.odom_from_base)
        replayed.revised_odom_from_base += [estimate.odom_from_base for estimate in output.revised]
        last_stamp_ns = frame.stamp_ns
    revised, messages = pipeline.finish()  # the last frames' revised odometry
    for message in messages:
        bag.write(OUTPUT_TOPICS["odometry_revised"], message, last_stamp_ns)
    replayed.revised_odom_from_base += [estimate.odom_from_base for estimate in revised]
    return replayed


def replay_bag(
    bag_path: str | Path,
    checkpoint: str | Path,
    out_bag: str | Path,
    image_topic: str | None = None,
    gt_topic: str | None = None,
    settings: NodeSettings | None = None,
    device: str = "auto",
    precision: str = "fp32",
    clip_len: int = EVAL_CLIP_LEN,
    refinement: RefinementConfig | None = None,
    overwrite: bool = False,
    output_rate: OutputRateConfig | None = None,
    runtime: str = "torch",
    onnx_dir: str = "",
) -> dict:
    """Replay; returns a summary (frames, outputs, rejections by reason, refinement, metrics
    if gt).

    ``settings``: the node's parameters (None: the defaults, with the checkpoint's streaming
    config); ``checkpoint``, ``device``, ``precision``, ``runtime``,
    ``onnx_dir`` (the node's ``model.*``) and ``refinement`` (if given) override their ``model``
    and ``refinement`` sections, ``output_rate`` (if given) its ``output_rate``. An existing
    ``out_bag`` raises :class:`la_pose_ros.bags.writer.OutputExists` unless ``overwrite``.
    """
    out_bag = check_output(out_bag, "mcap", overwrite)
    report_dir = out_bag.parent / f"{out_bag.name}_report"
    with open_bag(bag_path) as reader:
        topic = choose_topic(reader, image_topic, IMAGE_TYPES, "image")
        ground_truth = (
            read_poses(reader, choose_topic(reader, gt_topic, POSE_TYPES, "pose"))
            if gt_topic
            else None
        )
        model = ModelSettings(str(checkpoint), device, precision, runtime, onnx_dir)
        estimator, pipeline, refinement = replay_pipeline(model, settings, refinement, output_rate)
        pipeline.set_camera_info(first_camera_info(reader))  # the camera's FoV, if the bag has it
        with BagWriter(out_bag, "mcap", overwrite) as bag:
            replayed = replay_images(reader, topic, pipeline, bag)
            copied = copy_input(reader, bag)
            summary = {
                "bag": str(bag_path),
                "image_topic": topic,
                "images": replayed.images,
                "used": len(replayed.stamps),
                "output_rate": pipeline.settings.output_rate.mode,
                "runtime": runtime,
                "rejected": dict(replayed.rejected),
                "input_messages_copied": copied,
                "output_bag": str(out_bag),
                "refinement": refinement_summary(estimator, refinement),
            }
            if ground_truth is not None:  # before the bag is kept: a failure leaves no bag
                trajectory = (np.asarray(replayed.stamps), np.stack(replayed.odom_from_base))
                revised = np.stack(replayed.revised_odom_from_base) if pipeline.revises else None
                methods = evaluate_against(
                    ground_truth,
                    *trajectory,
                    pipeline,
                    report_dir,
                    clip_len,
                    extra={"refinement": summary["refinement"]},
                    revised=revised,
                )
                summary["metrics"] = methods[LIVE]
                if revised is not None:
                    summary["metrics_revised"] = methods[REVISED]
            elif overwrite:
                remove_path(report_dir)  # the old bag's metrics would describe another run
    return summary


def refinement_summary(estimator: PoseEstimator, refinement: RefinementConfig) -> dict | None:
    """What the replay says of test-time refinement: None when it was off."""
    refiner = estimator.refiner
    if refiner is None:
        return None
    return {
        "checkpoint": refinement.checkpoint,
        "k": refiner.k,
        "ridge": refiner.ridge,
        "bank_size": len(refiner.bank),
        "pairs": refiner.calls,  # refined pairs (used frames but each track's first)
        "mean_ms": refiner.mean_ms,  # mean cost per refined pair (ms); None if none
        "mean_max_abs_weight": refiner.mean_max_abs_weight,  # >> 1: extrapolating weights
    }


def evaluate_against(
    ground_truth,
    est_stamps,
    odom_from_base,
    pipeline,
    out_dir: Path,
    clip_len: int,
    extra: dict | None = None,
    revised: np.ndarray | None = None,
) -> dict:
    """Metrics of the used frames against the vehicle ground truth (camera poses compared),
    per method: the published odometry ``odom_from_base`` (:data:`LIVE`), constant velocity
    and, where given, the revised odometry ``revised`` ``(N, 4, 4)`` of the same frames
    (:data:`REVISED`).

    ``extra``: more top-level entries of ``metrics.json``."""
    gt_stamps, world_from_base = ground_truth
    gt_index, est_index = associate_stamps(gt_stamps, est_stamps, max_difference_s=0.02)
    if len(gt_index) < 2:
        raise BadBag("fewer than 2 ground-truth poses match the used frames' stamps")
    base_from_camera = pipeline.base_from_camera
    gt_cams = world_from_base[gt_index] @ base_from_camera
    est_cams = odom_from_base[est_index] @ base_from_camera
    stamps = np.asarray(est_stamps, np.float64)[est_index]
    estimates = {LIVE: est_cams}
    if revised is not None:
        estimates[REVISED] = revised[est_index] @ base_from_camera
    # the prior beside the model: skill a constant motion cannot fake
    estimates[CONSTANT_VELOCITY] = constant_velocity_trajectory(gt_cams, stamps)
    report = write_report(
        out_dir,
        gt_cams,
        estimates,
        clip_len=clip_len,
        title="bag replay: top view",
        extra=extra,
    )
    return {name: {"report_dir": str(out_dir), **report["methods"][name]} for name in estimates}
