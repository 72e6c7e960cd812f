#!/usr/bin/env python3
"""How much the synthetic drives of the recipe turn left and right (no rendering).

    tools/turn_balance.py [--seeds 0-23] [--frames 300]

Drives are made as ``tools/train_model.sh`` makes them (300 frames at 10 Hz, reversing allowed
in every third drive); prints each drive's net heading change and its summed left and right
yaw (degrees, of the vehicle), then the totals. The measure behind ``--mirror``
(``la_pose_core/data/mirror.py``): seeds 0-23 turn left 1.7 times as much as right.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.spatial.transform import Rotation

from la_pose_core.data.synthetic.sequence import SyntheticSequence
from la_pose_core.data.synthetic.trajectory import TrajectoryConfig


def seed_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def heading_changes(seed: int, frames: int) -> np.ndarray:
    """``(frames - 1,)`` per-frame heading changes of the vehicle, degrees left."""
    reverse = 0.5 if seed % 3 == 2 else 0.0  # as tools/train_model.sh
    drive = SyntheticSequence(
        frames, seed, trajectory_config=TrajectoryConfig(reverse_probability=reverse)
    )
    rotation = drive.trajectory.scene_from_base[:, :3, :3]  # (N, 3, 3), z up
    heading = np.unwrap(Rotation.from_matrix(rotation).as_euler("ZYX")[:, 0])
    return np.degrees(np.diff(heading))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-23", help="a seed or a range A-B (default 0-23)")
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    total_left = total_right = 0.0
    print("seed  net_deg  left_deg  right_deg")
    for seed in seed_range(args.seeds):
        changes = heading_changes(seed, args.frames)
        left, right = changes[changes > 0].sum(), -changes[changes < 0].sum()
        total_left, total_right = total_left + left, total_right + right
        print(f"{seed:4d} {changes.sum():8.1f} {left:9.1f} {right:10.1f}")
    print(f"total: left {total_left:.0f} deg, right {total_right:.0f} deg")


if __name__ == "__main__":
    main()
