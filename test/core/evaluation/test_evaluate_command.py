"""``la-pose evaluate`` on the KITTI sample with an untrained tiny model: files, keys, the
streaming estimator as the one inference path, frame selection, errors."""

import json
import math
import shutil

import numpy as np

from la_pose_core.data.kitti import KittiSequence
from la_pose_core.data.trajectory_io import read_kitti_poses
from la_pose_core.inference.estimator import PoseEstimator
from test.core.bad_checkpoints import write_bad_checkpoints
from test.core.training.helpers import la_pose

METHODS = {"la_pose", "opencv_vo_gt_scale", "constant_velocity_gt_first_pair"}


def test_evaluate_writes_metrics_plot_and_trajectories(
    tmp_path, kitti_sample, tiny_checkpoint, capsys
):
    out = tmp_path / "eval"
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--sequence", str(kitti_sample)]
    assert la_pose([*argv, "--out", str(out), "--max-frames", "31"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["frames_read"] == 31 and printed["frames_used"] == 7
    assert set(printed["methods"]) == METHODS

    report = json.loads((out / "metrics.json").read_text())
    assert set(report["methods"]) == METHODS and set(report["notes"]) == METHODS
    assert "metric only with GT scale" in report["notes"]["opencv_vo_gt_scale"]
    assert report["used_frames"] == [0, 5, 10, 15, 20, 25, 30]
    assert report["clip_len"] == 16  # the paper's protocol, not the model's 6-frame window
    for metrics in report["methods"].values():
        for key in ("auc5", "ate_s", "ate_m", "ate_full_m", "rpe_trans_pct"):
            assert math.isfinite(metrics[key])
        for key in ("yaw_corr", "step_corr", "rotation_err_deg", "right_way_pct"):
            assert metrics[key] is None or math.isfinite(metrics[key]), key
        assert set(printed["methods"]["la_pose"]) >= {"yaw_corr", "step_corr", "right_way_pct"}
    details = report["details"]
    assert details["la_pose"]["resets"] == 0 and details["opencv_vo_gt_scale"]["failures"] == 0
    assert (out / "trajectory.png").stat().st_size > 10_000

    # The la_pose trajectory is the streaming estimator's own chaining, frame by frame.
    sequence = KittiSequence(kitti_sample)
    estimator = PoseEstimator.from_checkpoint(str(tiny_checkpoint), device="cpu")
    poses = [estimator.step(sequence.image(i), float(sequence.stamps[i])) for i in range(31)]
    streamed = np.stack([p.world_from_cam for p in poses if p is not None])
    written = read_kitti_poses(out / "trajectories" / "la_pose.txt")
    np.testing.assert_allclose(written, streamed, rtol=0, atol=1e-6)
    truth = read_kitti_poses(out / "trajectories" / "ground_truth.txt")
    np.testing.assert_allclose(truth, sequence.world_from_cam[report["used_frames"]], atol=1e-8)
    frames = (out / "trajectories" / "frames.txt").read_text().split()
    assert [int(v) for v in frames[::2]] == report["used_frames"]


def test_fps_and_baseline_selection(tmp_path, kitti_sample, tiny_checkpoint, capsys):
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--sequence", str(kitti_sample)]
    argv += ["--max-frames", "31", "--baselines", "none", "--fps", "1", "--clip-len", "3"]  # 0.9 s
    assert la_pose([*argv, "--out", str(tmp_path / "one_fps")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["frames_used"] == 4 and set(printed["methods"]) == {"la_pose"}
    report = json.loads((tmp_path / "one_fps" / "metrics.json").read_text())
    assert report["target_fps"] == 1.0 and report["used_frames"] == [0, 9, 18, 27]
    assert report["methods"]["la_pose"]["clip_len"] == 3


def test_evaluate_errors_are_one_line(tmp_path, kitti_sample, tiny_checkpoint, capsys):
    unposed = tmp_path / "unposed"
    shutil.copytree(kitti_sample, unposed, ignore=shutil.ignore_patterns("poses.txt"))
    uncalibrated = tmp_path / "uncalibrated"
    shutil.copytree(kitti_sample, uncalibrated, ignore=shutil.ignore_patterns("calib.txt"))
    base = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "x")]
    cases = [
        ([*base, "--sequence", str(unposed)], "no poses.txt"),
        ([*base, "--sequence", str(uncalibrated)], "no calib.txt"),
        ([*base, "--sequence", str(kitti_sample), "--baselines", "orb_slam"], "unknown"),
        ([*base, "--sequence", str(kitti_sample), "--max-frames", "1"], "at least 2"),
        ([*base, "--sequence", str(tmp_path / "nowhere")], "no image_0/ folder"),
    ]
    for bad, reason in write_bad_checkpoints(tmp_path / "bad", tiny_checkpoint).items():
        argv = ["evaluate", "--checkpoint", str(bad), "--sequence", str(kitti_sample)]
        reason = f"not an LA-Pose checkpoint: {reason}"
        cases.append(([*argv, "--out", str(tmp_path / "y")], reason))
    for argv, message in cases:
        assert la_pose(argv) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0], (argv, error)
