"""The README's ablation command runs end to end (at toy size: 2 training steps per run)."""

import json
import subprocess
import sys


def test_ablation_script_writes_every_row(repo_root, kitti_sample, tmp_path):
    out = tmp_path / "results"
    command = [
        sys.executable,
        str(repo_root / "benchmarks/ablation_pose_autoencoder.py"),
        "--work", str(tmp_path / "work"), "--out-dir", str(out), "--sequence", str(kitti_sample),
        "--steps", "2", "--drives", "1", "--frames", "60", "--clips", "8",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    report = json.loads((out / "ablation_pose_autoencoder.json").read_text())
    runs = {(row["run"], row["direction"], row["refine"]) for row in report["rows"]}
    assert len(runs) == len(report["rows"]) == 18  # 5 heads x 2 directions + 4 x 2 refined
    assert ("virtual actions", "reversed", "ridge 1e-2") in runs
    for row in report["rows"]:
        assert row["frames_used"] == 19 and row["ms_per_frame"] > 0
        assert (row["refinement_ms_per_pair"] is not None) == (row["refine"] != "no")
    assert set(report["teacher_vs_student"]) == {"forward", "reversed"}
    noise = report["label_noise"]
    assert noise["bad_seen"] > 0 and 0 <= noise["dropped_noisy"] <= noise["dropped"]
    table = (out / "ablation_pose_autoencoder.md").read_text()
    assert table.count("| virtual actions |") == 6
