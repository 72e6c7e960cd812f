"""The demo end to end (as ``make demo`` runs it), on a short synthetic drive."""

import json
import subprocess
import sys

from test.ros.harness import write_test_checkpoint


def test_demo_runs_the_node_live_and_reports(tmp_path):
    checkpoint = write_test_checkpoint(tmp_path / "tiny.pt")
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "la_pose_ros.demo", "--checkpoint", str(checkpoint),
         "--frames", "40", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for step in ("[demo 1/4]", "[demo 2/4]", "[demo 3/4]", "[demo 4/4]", "[demo done]"):
        assert step in result.stdout  # progress is visible
    metrics = json.loads((out / "metrics.json").read_text())["methods"]
    assert set(metrics) == {
        "LA-Pose (live node)",
        "LA-Pose (node, revised)",  # ~/odometry/revised, the last frames' at deactivate
        "opencv_vo_gt_scale",
        "constant_velocity_gt_first_pair",
    }
    assert metrics["LA-Pose (live node)"]["num_frames"] >= 6  # 4 s at the model's 2 fps
    assert (
        metrics["LA-Pose (node, revised)"]["num_frames"]
        == metrics["LA-Pose (live node)"]["num_frames"]
    )
    assert (out / "trajectory.png").stat().st_size > 10_000
    assert list((out / "node_outputs").glob("*.mcap"))
