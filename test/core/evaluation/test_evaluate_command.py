"""``la-pose evaluate`` on the KITTI sample with an untrained tiny model: files, keys, the
streaming estimator as the one inference path, frame selection, unreadable frames, the
training frame-rate warning, TUM trajectories, errors."""

import dataclasses
import json
import math
import shutil

import numpy as np

from la_pose_core.data.kitti import KittiSequence
from la_pose_core.data.shards import read_shard_metadata
from la_pose_core.data.trajectory_io import read_kitti_poses, read_tum_trajectory
from la_pose_core.geometry import chain_relative_poses
from la_pose_core.inference.estimator import PoseEstimator, keep_latest_motions
from la_pose_core.model.checkpoint import load_checkpoint, save_checkpoint
from la_pose_core.model.config import get_config
from la_pose_core.model.lapose import LAPosePosttrainer
from la_pose_core.training import MODEL_FILE, Trainer
from test.core.bad_checkpoints import write_bad_checkpoints
from test.core.training.helpers import la_pose, write_tiny_shards
from test.core.training.test_trainer import options

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
    # KITTI's frames are 0.1036 s apart: the schedule keeps the frames nearest 0, 1, 2, 3 s
    # (0, 0.93, 1.97, 2.90 s), so the mean rate is 1 fps (greedy 0.9 s pairs would give 1.07).
    assert report["target_fps"] == 1.0 and report["used_frames"] == [0, 9, 19, 28]
    assert report["methods"]["la_pose"]["clip_len"] == 3
    assert report["mirror_average"] is False  # the checkpoint's default


def test_mirror_averaging_on_the_command_line(tmp_path, kitti_sample, tiny_checkpoint, capsys):
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--sequence", str(kitti_sample)]
    argv += ["--max-frames", "21", "--baselines", "none"]
    runs = {}
    for flag in ("--no-mirror-average", "--mirror-average"):
        assert la_pose([*argv, flag, "--out", str(tmp_path / flag)]) == 0
        capsys.readouterr()
        runs[flag] = json.loads((tmp_path / flag / "metrics.json").read_text())
    assert runs["--mirror-average"]["mirror_average"] is True
    assert runs["--no-mirror-average"]["mirror_average"] is False
    plain, averaged = (
        read_kitti_poses(tmp_path / flag / "trajectories" / "la_pose.txt") for flag in runs
    )
    assert not np.allclose(plain, averaged, atol=1e-5)


def test_the_road_step_on_the_command_line(tmp_path, kitti_sample, tiny_checkpoint, capsys):
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--sequence", str(kitti_sample)]
    argv += ["--max-frames", "11", "--baselines", "none", "--out", str(tmp_path)]
    assert la_pose([*argv, "--road-step", "--camera-height", "1.65"]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "metrics.json").read_text())["road_step"] is True


def test_fixed_lag_scores_each_pair_s_last_estimate_beside_the_first_reported(
    tmp_path, kitti_sample, tiny_checkpoint, capsys
):
    """--fixed-lag N: la_pose is each pair's last estimate chained, la_pose_first_reported the
    pairs as first reported (the estimator's world_from_cam, the live pose)."""
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--sequence", str(kitti_sample)]
    argv += ["--max-frames", "41", "--baselines", "none", "--out", str(tmp_path)]
    assert la_pose([*argv, "--fixed-lag", "2"]) == 0
    capsys.readouterr()
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["fixed_lag"] == 2
    assert set(report["methods"]) == set(report["notes"]) == {"la_pose", "la_pose_first_reported"}

    sequence = KittiSequence(kitti_sample)
    estimator = PoseEstimator.from_checkpoint(str(tiny_checkpoint), device="cpu")
    estimator.set_streaming(dataclasses.replace(estimator.config.streaming, fixed_lag=2))
    latest, live = [], []
    for index in range(41):
        result = estimator.step(sequence.image(index), float(sequence.stamps[index]))
        if result is not None:
            keep_latest_motions(latest, result)
            live.append(result.world_from_cam)
    trajectories = tmp_path / "trajectories"
    written = read_kitti_poses(trajectories / "la_pose.txt")
    np.testing.assert_allclose(written, chain_relative_poses(np.stack(latest)), atol=1e-6)
    first = read_kitti_poses(trajectories / "la_pose_first_reported.txt")
    np.testing.assert_allclose(first, np.stack(live), atol=1e-6)
    assert not np.allclose(written, first, atol=1e-4)


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
        ([*base, "--sequence", str(kitti_sample), "--camera-height", "0"], "must be positive"),
        ([*base, "--sequence", str(kitti_sample), "--fixed-lag", "-1"], "fixed_lag must be"),
    ]
    for bad, reason in write_bad_checkpoints(tmp_path / "bad", tiny_checkpoint).items():
        argv = ["evaluate", "--checkpoint", str(bad), "--sequence", str(kitti_sample)]
        reason = f"not an LA-Pose checkpoint: {reason}"
        cases.append(([*argv, "--out", str(tmp_path / "y")], reason))
    for argv, message in cases:
        assert la_pose(argv) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0], (argv, error)


def test_evaluate_writes_tum_beside_each_kitti_trajectory(
    tmp_path, kitti_sample, tiny_checkpoint, capsys
):
    out = tmp_path / "eval"
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--sequence", str(kitti_sample)]
    assert la_pose([*argv, "--out", str(out), "--max-frames", "21", "--clip-len", "3"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    trajectories = out / "trajectories"
    for name in ("ground_truth", *METHODS):
        stamps, poses = read_tum_trajectory(trajectories / f"{name}.tum")
        np.testing.assert_allclose(stamps, report["used_stamps"], rtol=0, atol=1e-9)
        kitti = read_kitti_poses(trajectories / f"{name}.txt")
        np.testing.assert_allclose(poses, kitti, rtol=0, atol=1e-6)


def _with_corrupt_frames(kitti_sample, folder, frames):
    shutil.copytree(kitti_sample, folder)
    for index in frames:
        (folder / "image_0" / f"{index:06d}.png").write_bytes(b"\x89PNG garbage")
    return folder


def test_unreadable_frames_are_skipped_counted_and_reported(
    tmp_path, kitti_sample, tiny_checkpoint, capsys
):
    sequence = _with_corrupt_frames(kitti_sample, tmp_path / "seq", [0, 10])  # 10: a used frame
    out = tmp_path / "eval"
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--sequence", str(sequence)]
    assert la_pose([*argv, "--out", str(out), "--max-frames", "31", "--clip-len", "3"]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert printed["frames_read"] == 31 and printed["frames_unreadable"] == 2
    warnings = [line for line in captured.err.splitlines() if "not a readable image" in line]
    assert len(warnings) == 2 and "frame 0" in warnings[0] and "frame 10" in warnings[1]
    report = json.loads((out / "metrics.json").read_text())
    assert report["frames_unreadable"] == 2 and report["unreadable_frames"] == [0, 10]
    used = report["used_frames"]
    assert used[0] == 1 and 10 not in used and len(used) == printed["frames_used"]
    truth = read_kitti_poses(out / "trajectories" / "ground_truth.txt")
    np.testing.assert_allclose(truth, KittiSequence(kitti_sample).world_from_cam[used], atol=1e-8)
    for name in METHODS:  # every method on the model's used frames
        assert len(read_kitti_poses(out / "trajectories" / f"{name}.txt")) == len(used)


def test_too_few_readable_frames_is_one_line(tmp_path, kitti_sample, tiny_checkpoint, capsys):
    sequence = _with_corrupt_frames(kitti_sample, tmp_path / "seq", [0, 1])
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--sequence", str(sequence)]
    assert la_pose([*argv, "--out", str(tmp_path / "x"), "--max-frames", "3"]) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(error) == 1 and "2 of 3 frames are unreadable images: fewer than 2" in error[0]


def _fps_warnings(tmp_path, kitti_sample, checkpoint, fps, capsys) -> list[str]:
    argv = ["evaluate", "--checkpoint", str(checkpoint), "--sequence", str(kitti_sample)]
    argv += ["--max-frames", "21", "--baselines", "none", "--clip-len", "3", "--fps", fps]
    assert la_pose([*argv, "--out", str(tmp_path / f"fps{fps}")]) == 0
    return [line for line in capsys.readouterr().err.splitlines() if "--fps" in line]


def test_fps_outside_the_training_range_warns(tmp_path, kitti_sample, tiny_checkpoint, capsys):
    # no recorded range: the paper's 1-4 fps
    (warning,) = _fps_warnings(tmp_path, kitti_sample, tiny_checkpoint, "10", capsys)
    assert warning.startswith("warning: --fps 10 is outside the 1-4 fps this model was trained at")
    assert warning.endswith("its motion will be off")
    assert _fps_warnings(tmp_path, kitti_sample, tiny_checkpoint, "2", capsys) == []
    # a recorded range
    config = get_config("tiny")
    recorded = save_checkpoint(
        tmp_path / "recorded.pt", LAPosePosttrainer(config), config, {"training_fps": [2.5, 3.5]}
    )
    (warning,) = _fps_warnings(tmp_path, kitti_sample, recorded, "2", capsys)
    assert warning == (
        "warning: --fps 2 is outside the 2.5-3.5 fps this model was trained at; its motion will "
        "be off"
    )
    assert _fps_warnings(tmp_path, kitti_sample, recorded, "3", capsys) == []


def test_training_records_the_clips_fps_range(tmp_path):
    shards = tmp_path / "shards"
    write_tiny_shards(shards, sequences=1, clips=4)
    run = options(tmp_path, shards, steps=1, shuffle_buffer=2)
    assert Trainer(run).run().finished
    rates = [
        (meta["num_frames"] - 1) / (meta["stamps"][-1] - meta["stamps"][0])
        for meta in read_shard_metadata(str(shards))
    ]
    recorded = load_checkpoint(tmp_path / "run" / MODEL_FILE).extra["training_fps"]
    assert recorded == [min(rates), max(rates)] and 0.5 <= min(rates) <= max(rates) <= 6.0
