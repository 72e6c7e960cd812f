"""Does the model know the camera's field of view? The same drives seen through other cameras.

    .venv/bin/python benchmarks/bench_fov.py [--checkpoint models/la_pose_demo.pt]
        [--fovs 30 40 50 60] [--out benchmarks/results/fov]

The evaluation drives of ``bench_accuracy.py`` (the first three seeds in 300-999 that turn by 60
degrees or more, 2 fps, 256x128, grey) are rendered again through cameras of each vertical FoV
in ``--fovs`` (degrees): the same motion, seen wider or narrower. A model that turns pixels
into angles with the right focal length follows every camera's turns the same way; one that
does not know the FoV scales them by (its assumed focal length / the true one). Per FoV, means
over the drives:

- ``yaw_corr``, ``yaw_spread_ratio`` (:mod:`la_pose_core.metrics.skill`);
- ``turn_slope``: least-squares slope of the predicted on the true yaw over the pairs that turn
  by more than 2 degrees (1: turns at their true size);
- ``path_ratio``: predicted over true path length;
- ``predicted_fov_deg``: the pose head's FoV output (the camera's input FoV is ``fov_deg``).

The estimator is told each camera's intrinsics (``set_camera_intrinsics``), which only a head
with ``pose_head.camera_fov_input`` reads. Writes ``OUT/fov.{json,md}``.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
from bench_accuracy import REPO, turning_drives  # beside this script

from la_pose_core.data.synthetic.sequence import SyntheticSequence
from la_pose_core.evaluation.sequence import LA_POSE, run_sequence
from la_pose_core.geometry import adjacent_relative_poses
from la_pose_core.inference.estimator import PoseEstimator
from la_pose_core.json_output import dumps
from la_pose_core.metrics import yaw_left
from la_pose_core.metrics.skill import pair_skill

SIZE = (256, 128)
TURNING_RAD = np.radians(2.0)  # pairs that count for the turn slope


def drive_measures(estimator: PoseEstimator, drive) -> dict[str, float]:
    """The module docstring's measures of one rendered drive."""
    run = run_sequence(estimator, drive, baselines=())
    truth, estimate = run.ground_truth, run.estimates[LA_POSE]
    true_pairs, estimated_pairs = adjacent_relative_poses(truth), adjacent_relative_poses(estimate)
    true_yaw, estimated_yaw = yaw_left(true_pairs), yaw_left(estimated_pairs)
    turning = np.abs(true_yaw) > TURNING_RAD
    skill = pair_skill(truth, estimate)
    return {
        "yaw_corr": skill["yaw_corr"],
        "yaw_spread_ratio": skill["yaw_spread_ratio"],
        "turn_slope": float(
            np.sum(estimated_yaw[turning] * true_yaw[turning]) / np.sum(true_yaw[turning] ** 2)
        ),
        "path_ratio": float(
            np.linalg.norm(estimated_pairs[:, :3, 3], axis=-1).sum()
            / np.linalg.norm(true_pairs[:, :3, 3], axis=-1).sum()
        ),
        "predicted_fov_deg": run.details[LA_POSE]["mean_predicted_fov_deg"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(REPO / "models/la_pose_demo.pt"))
    parser.add_argument("--fovs", type=float, nargs="+", default=[30.0, 40.0, 50.0, 60.0])
    parser.add_argument("--drives", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/fov"))
    args = parser.parse_args()
    estimator = PoseEstimator.from_checkpoint(args.checkpoint, device="cpu")
    estimator.set_streaming(dataclasses.replace(estimator.config.streaming, target_fps=2.0))
    seeds = [drive.seed for drive in turning_drives(args.drives, SIZE, grayscale=True)]
    report = {"checkpoint": args.checkpoint, "seeds": seeds, "fovs": {}}
    lines = [
        f"## Field of view: `{Path(args.checkpoint).name}`, drives {seeds}\n",
        "| vertical FoV (deg) | yaw_corr | yaw_spread_ratio | turn_slope | path_ratio "
        "| predicted FoV (deg) |",
        "|---|---|---|---|---|---|",
    ]
    for fov in args.fovs:
        per_drive = [
            drive_measures(
                estimator,
                SyntheticSequence(
                    60, seed, size=SIZE, fps=2.0, grayscale=True, vertical_fov_deg=fov
                ),
            )
            for seed in seeds
        ]
        mean = {name: float(np.mean([d[name] for d in per_drive])) for name in per_drive[0]}
        report["fovs"][f"{fov:g}"] = {"mean": mean, "drives": per_drive}
        lines.append(f"| {fov:g} | " + " | ".join(f"{value:.3g}" for value in mean.values()) + " |")
        print(lines[-1], file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fov.json").write_text(dumps(report))
    (out / "fov.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
