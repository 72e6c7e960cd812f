"""``la-pose metrics`` run as a user runs it: the installed console script."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from la_pose_core.data import read_kitti_poses, write_kitti_poses, write_tum_trajectory
from la_pose_core.geometry import make_pose, matrix_from_quaternion
from test.core.test_metrics import evo_ape_rmse, perturb

LA_POSE = shutil.which("la-pose", path=str(Path(sys.executable).parent))


def la_pose(*args: str) -> subprocess.CompletedProcess:
    assert LA_POSE, "the la-pose console script is not installed next to this Python"
    return subprocess.run([LA_POSE, *args], capture_output=True, text=True, timeout=120)


def test_ground_truth_against_itself(kitti_sample):
    gt = str(kitti_sample / "poses.txt")
    result = la_pose("metrics", "--gt", gt, "--est", gt)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["auc5"] == 100.0
    assert metrics["num_clips"] == 5
    for key in ("ate_s", "ate_m", "rpe_trans_pct", "rpe_rot_deg_per_m"):
        assert metrics[key] == pytest.approx(0.0, abs=1e-6), key


def test_a_perturbed_trajectory_gives_evo_s_ate(kitti_sample, tmp_path):
    gt = read_kitti_poses(kitti_sample / "poses.txt")
    est = perturb(gt, np.random.default_rng(7), sigma_m=0.4)
    write_kitti_poses(tmp_path / "est.txt", est)
    result = la_pose(
        "metrics", "--gt", str(kitti_sample / "poses.txt"), "--est", str(tmp_path / "est.txt")
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    # the file stores 9 digits; evo gets what the file holds
    written = read_kitti_poses(tmp_path / "est.txt")
    assert metrics["ate_full_m"] == pytest.approx(evo_ape_rmse(gt, written), abs=1e-6)
    assert metrics["auc5"] < 100.0
    assert metrics["ate_m"] > 0.1


def test_tum_files_are_associated_by_stamp(tmp_path):
    gt = np.stack(
        [make_pose(matrix_from_quaternion([0, 0.01 * i, 0, 1]), [0.1 * i, 0, i]) for i in range(20)]
    )
    stamps = np.arange(20) * 0.1
    write_tum_trajectory(tmp_path / "gt.tum", stamps, gt)
    write_tum_trajectory(tmp_path / "est.tum", stamps[::2] + 0.001, gt[::2])  # every other frame
    result = la_pose(
        "metrics",
        "--gt",
        str(tmp_path / "gt.tum"),
        "--est",
        str(tmp_path / "est.tum"),
        "--format",
        "tum",
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["num_frames"] == 10
    assert metrics["auc5"] == 100.0


@pytest.mark.parametrize(
    ("est_text", "message"),
    [
        ("1 2 3\n", "expected 12 numbers"),
        ("1 0 0 0 0 1 0 0 0 0 1 x\n", "not a number"),
        ("", "no poses"),
    ],
)
def test_bad_files_give_one_line_and_exit_2(kitti_sample, tmp_path, est_text, message):
    (tmp_path / "est.txt").write_text(est_text)
    result = la_pose(
        "metrics", "--gt", str(kitti_sample / "poses.txt"), "--est", str(tmp_path / "est.txt")
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_missing_file_and_length_mismatch_exit_2(kitti_sample, tmp_path):
    missing = la_pose(
        "metrics", "--gt", str(kitti_sample / "poses.txt"), "--est", str(tmp_path / "nope.txt")
    )
    assert missing.returncode == 2 and "nope.txt" in missing.stderr
    write_kitti_poses(tmp_path / "short.txt", read_kitti_poses(kitti_sample / "poses.txt")[:10])
    short = la_pose(
        "metrics", "--gt", str(kitti_sample / "poses.txt"), "--est", str(tmp_path / "short.txt")
    )
    assert short.returncode == 2 and "91 poses" in short.stderr
