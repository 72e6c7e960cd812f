"""How much streaming and clip-mode estimates differ, on the real KITTI sample.

    .venv/bin/python benchmarks/bench_streaming_vs_clip.py [--checkpoint models/la_pose_demo.pt]

Streaming (``PoseEstimator.step``, what the node runs) picks frames by stamp and reports each
pair when it is the newest of a sliding window (then revised while ``streaming.fixed_lag`` later
pairs come; each pair's last estimate is scored). Clip mode runs the same frames in
non-overlapping windows of the model's clip length in one pass, where the non-causal pose head
also sees later pairs. Both trajectories are chained from their pair motions and evaluated
against ground truth with the same metrics (``evaluate_trajectory``); the per-pair translation
and rotation differences between the two are reported too.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from la_pose_core.data import KittiSequence
from la_pose_core.geometry import (
    chain_relative_poses,
    inverse,
    pose_from_translation_quaternion,
    rotation_angle,
)
from la_pose_core.inference.estimator import PoseEstimator, keep_latest_motions
from la_pose_core.metrics import evaluate_trajectory

REPO = Path(__file__).resolve().parents[1]
KITTI_SAMPLE = REPO.parent / "shared/data/kitti_odometry_00_f0000-0090"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(REPO / "models/la_pose_demo.pt"))
    parser.add_argument("--sequence", default=str(KITTI_SAMPLE))
    args = parser.parse_args()
    sequence = KittiSequence(args.sequence)
    estimator = PoseEstimator.from_checkpoint(args.checkpoint, device="cpu")
    estimator.set_camera_intrinsics(sequence.intrinsics)
    window = estimator.config.clip_len

    used, streaming = [], []
    for index in range(len(sequence)):
        result = estimator.step(sequence.image(index), float(sequence.stamps[index]))
        if result is None:
            continue
        keep_latest_motions(streaming, result)  # each pair at its last estimate
        used.append(index)
    # clip mode over the same frames, in windows of `window` frames sharing their end frames
    clip = []
    for start in range(0, len(used) - 1, window - 1):
        frames = used[start : start + window]
        if len(frames) < 2:
            break
        outputs = estimator.run_clip([sequence.image(i) for i in frames], sequence.stamps[frames])
        clip += [
            pose_from_translation_quaternion(t, q)
            for t, q in zip(outputs["translation"], outputs["quaternion"], strict=True)
        ]
    streaming, clip = np.stack(streaming), np.stack(clip)
    ground_truth = sequence.world_from_cam[used]
    differences = inverse(streaming) @ clip
    report = {
        "checkpoint": args.checkpoint,
        "frames_used": len(used),
        "window": window,
        "pair_translation_difference_m": {
            "mean": float(np.linalg.norm(differences[:, :3, 3], axis=1).mean()),
            "max": float(np.linalg.norm(differences[:, :3, 3], axis=1).max()),
        },
        "pair_rotation_difference_deg": {
            "mean": float(np.degrees(rotation_angle(differences[:, :3, :3])).mean()),
            "max": float(np.degrees(rotation_angle(differences[:, :3, :3])).max()),
        },
    }
    for name, motions in (("streaming", streaming), ("clip_mode", clip)):
        metrics = evaluate_trajectory(ground_truth, chain_relative_poses(motions), clip_len=window)
        report[name] = {
            key: metrics[key] for key in ("auc5", "auc30", "ate_s", "ate_m", "ate_full_m")
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
