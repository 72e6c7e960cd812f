"""``la-pose evaluate``: run a trained model over a KITTI-layout sequence, with baselines.

The model runs through the streaming :class:`~la_pose_core.inference.estimator.PoseEstimator`
(the deployed inference path): every image of the sequence is offered with its stamp, in
order, and the estimator's frame selector decides which are used (about ``--fps``, by default
the checkpoint's ``streaming.target_fps``). Its per-pair motions are chained into a trajectory
of the used frames (a tracking restart, which a gap over ``streaming.max_gap_s`` causes,
contributes an identity motion and is counted). Every method is evaluated on exactly those
used frames against the ground truth:

``la_pose``                          the model (metric scale from its own scale head);
``opencv_vo_gt_scale``               classical monocular OpenCV VO; step lengths from ground
                                     truth: **metric only with GT scale**;
``constant_velocity_gt_first_pair``  the first pair's ground-truth motion, repeated.

Options of the model: ``--refine ENCODER.pt`` refines every translation with a trained pose
encoder's motion bank (Camera Pose Auto-Encoder; the bank holds post-training motions only);
``--reverse`` plays the sequence backwards (real footage of reversing,
:class:`~la_pose_core.data.time_reversal.TimeReversedSequence`).

Outputs in ``--out``: ``metrics.json`` (per method: per-clip AUC@5/@30, ATE-S, ATE-M over
``--clip-len`` frames, 16 by default as in the paper; whole trajectory ATE and KITTI RPE;
per-pair skill: yaw and step-length correlation, yaw spread ratio, rotation error, right-way
share; see :func:`la_pose_core.metrics.evaluate_trajectory`; plus run
details), ``trajectory.png`` (top view of every method and the ground truth), and
``trajectories/`` (KITTI ``poses.txt`` files of each method and of the ground truth, and
``frames.txt``: index and stamp of each used frame). Prints a short JSON summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from la_pose_core.baselines import constant_velocity_trajectory
from la_pose_core.cli.common import fail, print_json
from la_pose_core.evaluation.baselines import BASELINES, CONSTANT_VELOCITY, OPENCV_VO, vo_trajectory
from la_pose_core.metrics import EVAL_CLIP_LEN, SKILL_KEYS
from la_pose_core.pose_autoencoder.refinement import RefinementConfig

LA_POSE = "la_pose"
NOTES = {
    LA_POSE: "streaming PoseEstimator; translation in metres from its own scale prediction",
    OPENCV_VO: "metric only with GT scale: monocular OpenCV VO (essential matrix + "
    "recoverPose) estimates rotation and translation direction, its step lengths are the "
    "ground truth's, so its ate_m, ate_full_m and rpe_trans_pct are not comparable with a "
    "method that estimates scale (auc5, auc30 and ate_s are)",
    CONSTANT_VELOCITY: "ground-truth motion of the first used pair, applied over every later "
    "pair's time interval (uses ground truth once)",
}
SUMMARY_KEYS = ("auc5", "auc30", "ate_s", "ate_m", "ate_full_m", "rpe_trans_pct", *SKILL_KEYS)


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
        default=RefinementConfig.ridge,
        help="relative regulariser of the affine weights (default: the paper's unregularised "
        "solve; 1e-2 pulls them towards the retrieved motions' mean)",
    )
    parser.add_argument(
        "--reverse",
        action="store_true",
        help="play the sequence backwards (a car reversing along the recorded path)",
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.set_defaults(run=run_evaluate)


@dataclass
class SequenceRun:
    """What one pass over a sequence produced (trajectories over the used frames)."""

    used: list[int]
    stamps: np.ndarray  # (N,) stamps of the used frames
    ground_truth: np.ndarray  # (N, 4, 4)
    estimates: dict[str, np.ndarray]  # name -> (N, 4, 4)
    frames_read: int
    details: dict = field(default_factory=dict)


def _parse_baselines(text: str) -> list[str]:
    if text.strip().lower() in ("", "none"):
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        fail(f"--baselines: unknown {unknown}; choose from {list(BASELINES)} or 'none'")
    return names


@dataclass
class _ModelPass:
    """What the streaming estimator gave for the offered frames."""

    used: list[int] = field(default_factory=list)  # indices of the frames it used
    motions: list[np.ndarray] = field(default_factory=list)  # (4, 4) per pair of used frames
    scales: list[float] = field(default_factory=list)  # predicted metric scale per tracked pair
    fovs: list[float] = field(default_factory=list)  # predicted vertical fov (rad) per pair
    step_seconds: list[float] = field(default_factory=list)  # time of each used frame's step
    resets: int = 0  # tracking restarts (identity motions)


def _stream_model(estimator, sequence, count: int, progress: bool) -> _ModelPass:
    """Offer the first ``count`` frames to the estimator, in order; keep what it used."""
    from tqdm import tqdm

    from la_pose_core.geometry import pose_from_translation_quaternion

    estimator.reset()
    model = _ModelPass()
    for index in tqdm(
        range(count), desc="frames", unit="frame", file=sys.stderr, disable=not progress
    ):
        stamp = float(sequence.stamps[index])
        start = time.perf_counter()
        result = estimator.step(sequence.image(index), stamp)
        elapsed = time.perf_counter() - start
        if result is None:
            continue
        model.step_seconds.append(elapsed)
        if model.used:
            if result.translation is None:  # tracking restarted: no motion for this pair
                model.resets += 1
                model.motions.append(np.eye(4))
            else:
                model.motions.append(
                    pose_from_translation_quaternion(result.translation, result.quaternion)
                )
                model.scales.append(result.scale)
                model.fovs.append(result.fov)
        model.used.append(index)
    return model


def _model_details(estimator, model: _ModelPass) -> dict:
    """The model's entry of ``details`` in metrics.json: refinement, resets, scale, fov, speed."""
    refiner = getattr(estimator, "refiner", None)
    return {
        "refinement": None
        if refiner is None
        else {
            "k": refiner.k,
            "ridge": refiner.ridge,
            "bank_size": len(refiner.bank),
            "ms_per_pair": refiner.mean_ms,
            "mean_max_abs_weight": refiner.mean_max_abs_weight,
        },
        "resets": model.resets,
        "mean_predicted_scale_m": float(np.mean(model.scales)) if model.scales else None,
        "mean_predicted_fov_deg": math.degrees(float(np.mean(model.fovs))) if model.fovs else None,
        # median: the first steps pay one-time set-up (allocations, lazy copies)
        "ms_per_used_frame": 1000.0 * float(np.median(model.step_seconds)),
    }


def _run_baselines(
    sequence,
    used: list[int],
    ground_truth: np.ndarray,
    stamps: np.ndarray,
    baselines: tuple[str, ...] | list[str],
    vo_features: str,
) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """The baselines' trajectories (name -> (N, 4, 4)) and details, on exactly the used frames."""
    estimates, details = {}, {}
    used_images = (sequence.image(index) for index in used)  # read again, one at a time
    camera_matrix = sequence.intrinsics.matrix
    if OPENCV_VO in baselines:
        estimates[OPENCV_VO], stats = vo_trajectory(
            used_images, ground_truth, camera_matrix, vo_features
        )
        details[OPENCV_VO] = {"features": vo_features, **stats.to_dict()}
    if CONSTANT_VELOCITY in baselines:
        estimates[CONSTANT_VELOCITY] = constant_velocity_trajectory(ground_truth, stamps)
    return estimates, details


def run_sequence(
    estimator,
    sequence,
    max_frames: int | None = None,
    baselines: tuple[str, ...] | list[str] = BASELINES,
    vo_features: str = "klt",
    progress: bool = False,
) -> SequenceRun:
    """Stream ``sequence`` through ``estimator`` and the baselines (see module docstring).

    Args:
        estimator: a :class:`~la_pose_core.inference.estimator.PoseEstimator` (reset first).
        sequence: a ``KittiSequence`` (or anything with ``stamps``, ``image(i)``,
            ``world_from_cam``, ``intrinsics``).
        max_frames: offer only the first N frames.
    """
    from la_pose_core.geometry import chain_relative_poses

    if sequence.world_from_cam is None:
        raise ValueError("the sequence has no ground truth (poses.txt)")
    count = len(sequence.stamps) if max_frames is None else min(max_frames, len(sequence.stamps))
    model = _stream_model(estimator, sequence, count, progress)
    used = model.used
    if len(used) < 2:
        raise ValueError(
            f"the estimator used {len(used)} of {count} frames: need at least 2 (more frames, "
            "or a higher --fps)"
        )
    stamps = np.asarray(sequence.stamps, np.float64)[used]  # (N,)
    ground_truth = np.asarray(sequence.world_from_cam, np.float64)[used]  # (N, 4, 4)
    estimates = {LA_POSE: chain_relative_poses(np.stack(model.motions))}
    details = {LA_POSE: _model_details(estimator, model)}
    baseline_estimates, baseline_details = _run_baselines(
        sequence, used, ground_truth, stamps, baselines, vo_features
    )
    estimates.update(baseline_estimates)
    details.update(baseline_details)
    return SequenceRun(used, stamps, ground_truth, estimates, count, details)


def _open_sequence(args: argparse.Namespace):
    """``--sequence`` (with ground truth and intrinsics), played backwards with ``--reverse``."""
    from la_pose_core.data.kitti import KittiSequence
    from la_pose_core.data.time_reversal import TimeReversedSequence

    sequence = KittiSequence(args.sequence, camera=args.camera)
    if sequence.world_from_cam is None:
        fail(f"{args.sequence}: no poses.txt (evaluation needs ground truth)")
    if sequence.intrinsics is None:
        fail(f"{args.sequence}: no calib.txt (evaluation needs the camera intrinsics)")
    if args.reverse:
        sequence = TimeReversedSequence(sequence)
    return sequence


def _load_estimator(args: argparse.Namespace):
    """The streaming estimator of ``--checkpoint``, refined with ``--refine``, at ``--fps``."""
    from la_pose_core.inference.estimator import PoseEstimator
    from la_pose_core.pose_autoencoder import RefinementConfig

    if args.refine_ridge < 0:
        fail(f"--refine-ridge must not be negative, got {args.refine_ridge}")
    refinement = RefinementConfig(args.refine or "", args.refine_k, args.refine_ridge)
    estimator = PoseEstimator.from_checkpoint(
        args.checkpoint, args.device, args.precision, refinement
    )
    if args.fps is not None:  # frame selection at another rate
        estimator.set_streaming(
            dataclasses.replace(estimator.config.streaming, target_fps=args.fps)
        )
    return estimator


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
        "camera": args.camera,
        "model_config": config.name,
        "target_fps": config.streaming.target_fps,
        "clip_len": args.clip_len,
        "frames_read": run.frames_read,
        "frames_used": len(run.used),
        "used_frames": run.used,
        "used_stamps": run.stamps.tolist(),
        "elapsed_s": elapsed,
        "notes": {name: NOTES[name] for name in run.estimates},
        "details": run.details,
    }


def _write_trajectories(out: Path, run: SequenceRun) -> None:
    """``out/trajectories/``: KITTI poses of the ground truth and each method, frames.txt."""
    from la_pose_core.data.trajectory_io import write_kitti_poses

    trajectories = out / "trajectories"
    trajectories.mkdir(exist_ok=True)
    write_kitti_poses(trajectories / "ground_truth.txt", run.ground_truth)
    for name, trajectory in run.estimates.items():
        write_kitti_poses(trajectories / f"{name}.txt", trajectory)
    frames = "".join(f"{i} {s:.9f}\n" for i, s in zip(run.used, run.stamps, strict=True))
    (trajectories / "frames.txt").write_text(frames)


def run_evaluate(args: argparse.Namespace) -> int:
    """``la-pose evaluate``: check the options, stream the sequence, write the report."""
    import torch

    from la_pose_core.evaluation import write_report
    from la_pose_core.inference.preprocess import input_vertical_fov

    if args.max_frames is not None and args.max_frames < 2:
        fail(f"--max-frames must be at least 2, got {args.max_frames}")
    if args.fps is not None and not args.fps > 0:
        fail(f"--fps must be positive, got {args.fps}")
    if args.device == "cuda" and not torch.cuda.is_available():
        fail("--device cuda but CUDA is not available")
    baselines = _parse_baselines(args.baselines)
    if args.refine_k < 1:
        fail(f"--refine-k must be at least 1, got {args.refine_k}")
    sequence = _open_sequence(args)
    estimator = _load_estimator(args)
    config = estimator.config
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
    extra = _run_details(args, config, run, elapsed)
    report = write_report(out, run.ground_truth, run.estimates, clip_len, title, extra)
    _write_trajectories(out, run)
    print_json(
        {
            "out": str(out),
            "frames_read": run.frames_read,
            "frames_used": len(run.used),
            "clip_len": clip_len,
            "methods": {
                name: {key: metrics[key] for key in SUMMARY_KEYS}
                for name, metrics in report["methods"].items()
            },
        }
    )
    return 0
