"""The whole chain on CPU, tiny config, through the command line: synthetic drives -> shards
-> tokenizer -> pretrain -> posttrain -> evaluate on the real KITTI sample. Checks that every
file and metric is there and finite, not accuracy."""

import json
import math

import pytest

from la_pose_core.data.synthetic import write_synthetic_sequence
from test.core.training.helpers import TINY_SIZE, la_pose

METRICS = ("auc5", "auc30", "ate_s", "ate_m", "ate_full_m", "rpe_trans_pct", "rpe_rot_deg_per_m")


@pytest.mark.slow
def test_synthetic_to_kitti_evaluation(tmp_path, kitti_sample, capsys):
    shards = tmp_path / "shards"
    for seed in (3, 4):
        drive = tmp_path / f"drive{seed}"
        write_synthetic_sequence(drive, 60, seed, size=TINY_SIZE, fps=10.0)
        argv = ["shards", "--sequence", str(drive), "--out", str(shards), "--clips", "4"]
        argv += ["--clip-len", "6", "--clips-per-shard", "2", "--prefix", f"drive{seed}"]
        assert la_pose(argv) == 0
    assert len(list(shards.glob("*.tar"))) == 4
    capsys.readouterr()

    common = ["--data", str(shards), "--steps", "3", "--batch-size", "2", "--no-progress"]
    common += ["--device", "cpu", "--checkpoint-every", "2"]
    runs = {name: tmp_path / name for name in ("tok", "pre", "post")}
    assert (
        la_pose(["train", "tokenizer", "--config", "tiny", "--out", str(runs["tok"]), *common]) == 0
    )
    init = ["--init", str(runs["tok"] / "model.pt")]
    assert la_pose(["train", "pretrain", *init, "--out", str(runs["pre"]), *common]) == 0
    init = ["--init", str(runs["pre"] / "model.pt")]
    assert la_pose(["train", "posttrain", *init, "--out", str(runs["post"]), *common]) == 0
    for run in runs.values():
        for name in ("config.json", "last.pt", "model.pt", "summary.json"):
            assert (run / name).is_file(), run / name
        assert list((run / "tb").glob("events.out.tfevents.*"))
        summary = json.loads((run / "summary.json").read_text())
        assert summary["finished"] and summary["step"] == 3
        assert all(math.isfinite(value) for value in summary["last_losses"].values())
    capsys.readouterr()

    out = tmp_path / "eval"
    argv = ["evaluate", "--checkpoint", str(runs["post"] / "model.pt"), "--out", str(out)]
    assert la_pose([*argv, "--sequence", str(kitti_sample), "--max-frames", "61"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["frames_used"] == 13  # frames 0, 5, ..., 60: every fifth of ~10.4 Hz (2 fps)
    report = json.loads((out / "metrics.json").read_text())
    assert set(report["methods"]) == {
        "la_pose",
        "opencv_vo_gt_scale",
        "constant_velocity_gt_first_pair",
    }
    for name, metrics in report["methods"].items():
        for key in METRICS:
            assert math.isfinite(metrics[key]), (name, key)
        assert metrics["num_frames"] == 13 and metrics["clip_len"] == 16  # the paper protocol
    assert (out / "trajectory.png").stat().st_size > 10_000
    assert report["used_frames"] == list(range(0, 61, 5))
