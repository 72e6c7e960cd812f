"""``la-pose evaluate``: run a trained model over a KITTI-layout sequence, with baselines.

The pass is :func:`la_pose_core.evaluation.sequence.run_sequence`: the checkpoint's streaming
:class:`~la_pose_core.inference.estimator.PoseEstimator` is offered every image of the sequence,
in order, and uses about ``--fps`` of them (by default the checkpoint's
``streaming.target_fps``). Every method is evaluated on exactly those used frames against the
ground truth:

``la_pose``                          the model (metric scale from its own scale head);
``opencv_vo_gt_scale``               classical monocular OpenCV VO; step lengths from ground
                                     truth: **metric only with GT scale**;
``constant_velocity_gt_first_pair``  the first pair's ground-truth motion, repeated.

Options of the model: ``--refine ENCODER.pt`` refines every translation with a trained pose
encoder's motion bank (Camera Pose Auto-Encoder; the bank holds post-training motions only);
``--reverse`` plays the sequence backwards (real footage of reversing,
:class:`~la_pose_core.data.time_reversal.TimeReversedSequence`); ``--runtime onnxruntime``
streams the checkpoint's ONNX export (``la-pose export``, ``--onnx-dir``) in ONNX Runtime.

Outputs in ``--out``: ``metrics.json`` (per method: per-clip AUC@5/@30, ATE-S, ATE-M over
``--clip-len`` frames, 16 by default as in the paper; whole trajectory ATE and KITTI RPE;
per-pair skill: yaw and step-length correlation, yaw spread ratio, rotation error, right-way
share; see :func:`la_pose_core.metrics.evaluate_trajectory`; plus run
details), ``trajectory.png`` (top view of every method and the ground truth), and
``trajectories/`` (KITTI ``poses.txt`` files of each method and of the ground truth, each with
a TUM file of the same name beside it, ``NAME.tum``: ``stamp tx ty tz qx qy qz qw`` per line,
the used frames' stamps in seconds as the sequence gives them, for evo; and ``frames.txt``:
index and stamp of each used frame). Prints a short JSON summary.

Bad input: a frame whose image does not read (corrupt or truncated file) is skipped with a
warning line, counted (``frames_unreadable`` in metrics.json and the summary) and used by no
method; fewer than 2 readable frames is a one-line error (exit 2). A frame rate (``--fps``, or
the checkpoint's own) outside the range the model was trained at gets a warning: the range
the finished training recorded in the checkpoint (``extra["training_fps"]``), else the paper's
1-4 fps.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from la_pose_core.cli.common import (
    add_inference_device_arguments,
    add_runtime_arguments,
    check_device,
    fail,
    print_json,
)
from la_pose_core.cli.defaults import (
    BASELINES,
    EVAL_CLIP_LEN,
    REFINE_RIDGE,
)
from la_pose_core.paper import PAPER_FPS_RANGE  # for checkpoints that record no rates

if TYPE_CHECKING:  # imported when the command runs, not to build the command line
    from la_pose_core.evaluation.sequence import SequenceRun

NOTES = {  # keys: la_pose_core.evaluation.sequence.LA_POSE(_FIRST_REPORTED), baselines' names
    "la_pose": "streaming PoseEstimator; translation in metres from its own scale prediction; "
    "each pair's last estimate (streaming.fixed_lag revises a pair until that many later pairs "
    "have come)",
    "la_pose_first_reported": "the same estimator's pairs as first reported, chained: the pose "
    "the node publishes live (listed when streaming.fixed_lag > 0)",
    "opencv_vo_gt_scale": "metric only with GT scale: monocular OpenCV VO (essential matrix + "
    "recoverPose) estimates rotation and translation direction, its step lengths are the "
    "ground truth's, so its ate_m, ate_full_m and rpe_trans_pct are not comparable with a "
    "method that estimates scale (auc5, auc30 and ate_s are)",
    "constant_velocity_gt_first_pair": "ground-truth motion of the first used pair, applied "
    "over every later pair's time interval (uses ground truth once)",
}
FPS_MARGIN = 0.05  # relative slack around the training range before the rate warning
METRIC_KEYS = ("auc5", "auc30", "ate_s", "ate_m", "ate_full_m", "rpe_trans_pct")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` to the ``la-pose`` subcommands."""
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a checkpoint (streaming) and baselines on a KITTI-layout sequence",
        description="Streams a sequence through the PoseEstimator of --checkpoint, evaluates "
        "its trajectory and those of the baselines (OpenCV monocular VO with ground-truth step "
        "lengths, constant velocity) on the same used frames, and writes metrics.json, "
        "trajectory.png and trajectories/ to --out. Prints a JSON summary.",
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint with a pose estimator")
    parser.add_argument("--sequence", required=True, help="KITTI-layout folder with poses.txt")
    parser.add_argument("--camera", default="image_0", help="image folder (default image_0)")
    parser.add_argument(
        "--fps",
        type=float,
        default=None,
        help="rate of the used frames (default: the checkpoint's streaming.target_fps)",
    )
    parser.add_argument(
        "--out", default=None, help="output folder (default: CHECKPOINT_DIR/eval-SEQUENCE)"
    )
    parser.add_argument("--max-frames", type=int, default=None, help="read only the first N frames")
    parser.add_argument(
        "--clip-len",
        type=int,
        default=EVAL_CLIP_LEN,
        help=f"frames per evaluation clip, every method alike (default {EVAL_CLIP_LEN}, the "
        "paper's protocol; the streaming estimator chains past its own window)",
    )
    parser.add_argument(
        "--baselines",
        default=",".join(BASELINES),
        help=f"comma-separated subset of {','.join(BASELINES)}, or 'none' (default: all)",
    )
    parser.add_argument(
        "--vo-features", choices=("klt", "orb"), default="klt", help="OpenCV VO features (klt)"
    )
    parser.add_argument(
        "--refine",
        metavar="ENCODER.pt",
        help="refine translations with this pose-encoder model file (la-pose train "
        "pose-encoder) of the same backbone",
    )
    parser.add_argument(
        "--refine-k", type=int, default=3, help="bank motions combined per pair (default 3)"
    )
    parser.add_argument(
        "--refine-ridge",
        type=float,
        default=REFINE_RIDGE,
        help="relative regulariser of the affine weights (default: the paper's unregularised "
        "solve; 1e-2 pulls them towards the retrieved motions' mean)",
    )
    parser.add_argument(
        "--mirror-average",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run the frames flipped left-right and average each pair's motion with the "
        "mirrored one's (twice the inverse dynamics cost; default: the checkpoint's "
        "streaming.mirror_average)",
    )
    parser.add_argument(
        "--epipolar-yaw",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="correct each pair's yaw against the XFeat keypoint matches of its two frames "
        "(default: the checkpoint's streaming.epipolar_yaw)",
    )
    parser.add_argument(
        "--road-step",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read each pair's step length from the road's image motion (needs "
        "--camera-height; default: the checkpoint's streaming.road_step)",
    )
    parser.add_argument(
        "--fixed-lag",
        type=int,
        default=None,
        metavar="N",
        help="revise each pair's motion until N later pairs have come; the trajectory scored is "
        "each pair's last estimate (0: as first reported; default: the checkpoint's "
        "streaming.fixed_lag)",
    )
    parser.add_argument(
        "--camera-height",
        type=float,
        default=None,
        metavar="M",
        help="the camera's height above the road (m), looking straight ahead, for --road-step "
        "(KITTI: 1.65)",
    )
    parser.add_argument(
        "--reverse",
        action="store_true",
        help="play the sequence backwards (a car reversing along the recorded path)",
    )
    add_inference_device_arguments(parser)
    add_runtime_arguments(parser)
    parser.set_defaults(run=run_evaluate)


def _parse_baselines(text: str) -> list[str]:
    if text.strip().lower() in ("", "none"):
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        fail(f"--baselines: unknown {unknown}; choose from {list(BASELINES)} or 'none'")
    return names


def _open_sequence(args: argparse.Namespace):
    """``--sequence`` (with ground truth and intrinsics), played backwards with ``--reverse``."""
    import numpy as np

    from la_pose_core.data.kitti import KittiSequence
    from la_pose_core.data.time_reversal import TimeReversedSequence
    from la_pose_core.geometry import BASE_FROM_OPTICAL, make_pose

    sequence = KittiSequence(args.sequence, camera=args.camera)
    if sequence.world_from_cam is None:
        fail(f"{args.sequence}: no poses.txt (evaluation needs ground truth)")
    if sequence.intrinsics is None:
        fail(f"{args.sequence}: no calib.txt (evaluation needs the camera intrinsics)")
    if args.reverse:
        sequence = TimeReversedSequence(sequence)
    if args.camera_height is not None:  # base_link on the road under a level camera
        if args.camera_height <= 0:
            fail(f"--camera-height must be positive, got {args.camera_height}")
        mounting = make_pose(np.eye(3), [0.0, 0.0, args.camera_height]) @ BASE_FROM_OPTICAL
        sequence.base_from_camera = mounting
    return sequence


def _load_estimator(args: argparse.Namespace):
    """The streaming estimator of ``--checkpoint``, refined with ``--refine``, at ``--fps``."""
    from la_pose_core.inference.estimator import PoseEstimator
    from la_pose_core.model.config import RefinementConfig

    if args.refine_ridge < 0:
        fail(f"--refine-ridge must not be negative, got {args.refine_ridge}")
    refinement = RefinementConfig(args.refine or "", args.refine_k, args.refine_ridge)
    estimator = PoseEstimator.from_checkpoint(
        args.checkpoint,
        args.device,
        args.precision,
        refinement,
        runtime=args.runtime,
        onnx_dir=args.onnx_dir,
    )
    streaming = estimator.config.streaming.overridden(
        target_fps=args.fps,  # frame selection at another rate
        mirror_average=args.mirror_average,
        epipolar_yaw=args.epipolar_yaw,
        road_step=args.road_step,
        fixed_lag=args.fixed_lag,
    )
    if streaming != estimator.config.streaming:
        estimator.set_streaming(streaming)
    return estimator


def _training_fps(path: str) -> tuple[tuple[float, float], bool]:
    """The frame-rate range (Hz) the checkpoint's model was trained at, and whether the
    checkpoint records it (else the paper's :data:`PAPER_FPS_RANGE`)."""
    import torch

    from la_pose_core.model.checkpoint import read_checkpoint_payload
    from la_pose_core.training.stages import TRAINING_FPS_KEY

    try:  # the extra record only: mapped, the weights are not read again
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # not a zip-format file: read it whole
        payload = read_checkpoint_payload(path)
    recorded = payload.get("extra", {}).get(TRAINING_FPS_KEY)
    try:
        low, high = (float(value) for value in recorded)
    except (TypeError, ValueError):
        return PAPER_FPS_RANGE, False
    if not 0.0 < low <= high < math.inf:
        return PAPER_FPS_RANGE, False
    return (low, high), True


def _warn_outside_training_fps(args: argparse.Namespace, fps: float) -> dict:
    """A warning on stderr when ``fps`` is outside the model's training range; the range's
    record for metrics.json."""
    (low, high), recorded = _training_fps(args.checkpoint)
    if not low * (1.0 - FPS_MARGIN) <= fps <= high * (1.0 + FPS_MARGIN):
        rate = f"--fps {fps:g}" if args.fps is not None else f"the checkpoint's target_fps {fps:g}"
        source = "" if recorded else " (the paper's range: the checkpoint records none)"
        print(
            f"warning: {rate} is outside the {low:.3g}-{high:.3g} fps this model was trained "
            f"at{source}; its motion will be off",
            file=sys.stderr,
        )
    return {"training_fps": [low, high], "training_fps_recorded": recorded}


def _output_folder(args: argparse.Namespace) -> Path:
    """``--out``, by default ``eval-SEQUENCE[-reversed]`` beside the checkpoint."""
    if args.out is not None:
        return Path(args.out)
    return (
        Path(args.checkpoint).resolve().parent
        / f"eval-{Path(args.sequence).resolve().name}{'-reversed' if args.reverse else ''}"
    )


def _run_details(args: argparse.Namespace, config, run: SequenceRun, elapsed: float) -> dict:
    """The run details metrics.json holds beside the metrics."""
    return {
        "checkpoint": str(args.checkpoint),
        "sequence": str(args.sequence),
        "reversed": bool(args.reverse),
        "refine": args.refine,
        "runtime": args.runtime,
        "camera": args.camera,
        "model_config": config.name,
        "target_fps": config.streaming.target_fps,
        "mirror_average": config.streaming.mirror_average,
        "epipolar_yaw": config.streaming.epipolar_yaw,
        "road_step": config.streaming.road_step,
        "fixed_lag": config.fixed_lag,
        "clip_len": args.clip_len,
        "frames_read": run.frames_read,
        "frames_used": len(run.used),
        "frames_unreadable": len(run.unreadable),
        "unreadable_frames": run.unreadable,
        "used_frames": run.used,
        "used_stamps": run.stamps.tolist(),
        "elapsed_s": elapsed,
        "notes": {name: NOTES[name] for name in run.estimates},
        "details": run.details,
    }


def _write_trajectories(out: Path, run: SequenceRun) -> None:
    """``out/trajectories/``: KITTI poses (``NAME.txt``) and TUM trajectories (``NAME.tum``,
    stamped with the used frames' stamps) of the ground truth and each method, frames.txt."""
    from la_pose_core.data.trajectory_io import write_kitti_poses, write_tum_trajectory

    trajectories = out / "trajectories"
    trajectories.mkdir(exist_ok=True)
    for name, trajectory in {"ground_truth": run.ground_truth, **run.estimates}.items():
        write_kitti_poses(trajectories / f"{name}.txt", trajectory)
        write_tum_trajectory(trajectories / f"{name}.tum", run.stamps, trajectory)
    frames = "".join(f"{i} {s:.9f}\n" for i, s in zip(run.used, run.stamps, strict=True))
    (trajectories / "frames.txt").write_text(frames)


def run_evaluate(args: argparse.Namespace) -> int:
    """``la-pose evaluate``: check the options, stream the sequence, write the report."""
    from la_pose_core.evaluation import write_report
    from la_pose_core.evaluation.sequence import LA_POSE, run_sequence
    from la_pose_core.geometry import input_vertical_fov
    from la_pose_core.metrics import SKILL_KEYS

    if args.max_frames is not None and args.max_frames < 2:
        fail(f"--max-frames must be at least 2, got {args.max_frames}")
    if args.fps is not None and not args.fps > 0:
        fail(f"--fps must be positive, got {args.fps}")
    check_device(args.device)
    baselines = _parse_baselines(args.baselines)
    if args.refine_k < 1:
        fail(f"--refine-k must be at least 1, got {args.refine_k}")
    sequence = _open_sequence(args)
    estimator = _load_estimator(args)
    config = estimator.config
    training_fps = _warn_outside_training_fps(args, config.streaming.target_fps)
    clip_len = args.clip_len
    if clip_len < 2:
        fail(f"--clip-len must be at least 2, got {clip_len}")
    out = _output_folder(args)

    start = time.perf_counter()
    run = run_sequence(estimator, sequence, args.max_frames, baselines, args.vo_features, True)
    elapsed = time.perf_counter() - start
    intrinsics = sequence.intrinsics
    true_fov = input_vertical_fov(
        intrinsics.fy, intrinsics.height, intrinsics.width, config.image_height, config.image_width
    )
    run.details[LA_POSE]["input_fov_deg"] = math.degrees(true_fov)
    title = (
        f"{Path(args.sequence).name}{' reversed' if args.reverse else ''}"
        f"{' refined' if args.refine else ''}: {len(run.used)} frames at "
        f"{config.streaming.target_fps:g} fps"
    )
    extra = {**_run_details(args, config, run, elapsed), **training_fps}
    report = write_report(out, run.ground_truth, run.estimates, clip_len, title, extra)
    _write_trajectories(out, run)
    print_json(
        {
            "out": str(out),
            "frames_read": run.frames_read,
            "frames_used": len(run.used),
            "frames_unreadable": len(run.unreadable),
            "clip_len": clip_len,
            "methods": {
                name: {key: metrics[key] for key in (*METRIC_KEYS, *SKILL_KEYS)}
                for name, metrics in report["methods"].items()
            },
        }
    )
    return 0
