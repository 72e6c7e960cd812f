"""``la-pose metrics``: evaluate an estimated trajectory file against ground truth."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from la_pose_core.cli.common import fail, print_json
from la_pose_core.cli.defaults import EVAL_CLIP_LEN, STILL_THRESHOLD_M

if TYPE_CHECKING:
    import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "metrics",
        help="AUC@5, ATE-S, ATE-M and RPE of a trajectory against ground truth (JSON)",
        description="Per-clip AUC@5 / ATE-S / ATE-M as in the LA-Pose paper, plus whole-"
        "trajectory ATE and KITTI-style RPE, and per-pair skill (yaw and step-length "
        "correlation, yaw spread ratio, rotation error, right-way share). Poses are "
        "camera-to-world.",
    )
    parser.add_argument("--gt", required=True, help="ground-truth trajectory file")
    parser.add_argument("--est", required=True, help="estimated trajectory file")
    parser.add_argument(
        "--format",
        choices=("kitti", "tum"),
        default="kitti",
        help="kitti: 12 numbers per line, one line per frame (same frames in both files); "
        "tum: 'stamp tx ty tz qx qy qz qw', associated by stamp (default: kitti)",
    )
    parser.add_argument(
        "--clip-len",
        type=int,
        default=EVAL_CLIP_LEN,
        help=f"frames per clip (default {EVAL_CLIP_LEN}, the paper's protocol)",
    )
    parser.add_argument(
        "--still-threshold",
        type=float,
        default=STILL_THRESHOLD_M,
        help="ground-truth pair translations below this many metres count as standing still "
        f"(default {STILL_THRESHOLD_M})",
    )
    parser.add_argument(
        "--max-stamp-difference",
        type=float,
        default=0.02,
        help="tum: largest stamp difference (s) of an associated pair (default 0.02)",
    )
    parser.set_defaults(run=run)


def load_pair(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """Read both files and return matching ``(N, 4, 4)`` ground truth and estimate."""
    from la_pose_core.data import associate_stamps, read_kitti_poses, read_tum_trajectory

    if args.format == "kitti":
        gt, est = read_kitti_poses(args.gt), read_kitti_poses(args.est)
        if len(gt) != len(est):
            fail(f"{args.gt} has {len(gt)} poses but {args.est} has {len(est)}")
        return gt, est
    gt_stamps, gt = read_tum_trajectory(args.gt)
    est_stamps, est = read_tum_trajectory(args.est)
    gt_index, est_index = associate_stamps(gt_stamps, est_stamps, args.max_stamp_difference)
    if len(gt_index) < 2:
        tolerance = args.max_stamp_difference
        fail(f"fewer than 2 stamps of {args.est} match {args.gt} within {tolerance} s")
    return gt[gt_index], est[est_index]


def run(args: argparse.Namespace) -> int:
    from la_pose_core.metrics import evaluate_trajectory

    if args.clip_len < 2:
        fail(f"--clip-len must be at least 2, got {args.clip_len}")
    gt, est = load_pair(args)
    print_json(
        evaluate_trajectory(gt, est, clip_len=args.clip_len, still_threshold_m=args.still_threshold)
    )
    return 0
