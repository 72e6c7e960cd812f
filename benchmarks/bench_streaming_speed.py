"""Streaming step time of a checkpoint on the KITTI sample, alone in a fresh process.

    .venv/bin/python benchmarks/bench_streaming_speed.py [--checkpoint models/la_pose_demo.pt]

Feeds every frame to ``PoseEstimator.step`` at its recorded stamp (the node's path: frame
selection, preprocessing, XFeat and motion features, the inverse dynamics step, the pose head)
and prints the median and 90th percentile milliseconds of the steps that used a frame.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from la_pose_core.data import KittiSequence
from la_pose_core.inference.estimator import PoseEstimator

REPO = Path(__file__).resolve().parents[1]
KITTI_SAMPLE = REPO.parent / "shared/data/kitti_odometry_00_f0000-0090"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(REPO / "models/la_pose_demo.pt"))
    parser.add_argument("--sequence", default=str(KITTI_SAMPLE))
    args = parser.parse_args()
    sequence = KittiSequence(args.sequence)
    images = [sequence.image(index) for index in range(len(sequence.stamps))]
    estimator = PoseEstimator.from_checkpoint(args.checkpoint, device="cpu")
    step_seconds = []
    for image, stamp in zip(images, sequence.stamps, strict=True):
        start = time.perf_counter()
        result = estimator.step(image, float(stamp))
        if result is not None:
            step_seconds.append(time.perf_counter() - start)
    milliseconds = 1000.0 * np.asarray(step_seconds)
    report = {
        "checkpoint": args.checkpoint,
        "torch_threads": torch.get_num_threads(),
        "frames_used": len(step_seconds),
        "median_ms": float(np.median(milliseconds)),
        "p90_ms": float(np.percentile(milliseconds, 90)),
        "target_ms": 40.0,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
