"""benchmarks/bench_soak.py end to end for a few seconds: three processes, every frame accounted
for, the report's fields filled (the figures themselves are the benchmark's, not a test's)."""

import json
import subprocess
import sys

from test.ros.harness import REPO_ROOT, write_test_checkpoint


def test_a_short_soak_accounts_for_every_frame(tmp_path):
    checkpoint = write_test_checkpoint(tmp_path / "tiny.pt")
    report_path = tmp_path / "soak.json"
    command = [
        sys.executable,
        str(REPO_ROOT / "benchmarks/bench_soak.py"),
        "--minutes", "0.15",
        "--rate", "10",
        "--checkpoint", str(checkpoint),
        "--background-load", "0.2",
        "--work", str(tmp_path / "work"),
        "--out", str(report_path),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(report_path.read_text())
    frames = report["frames"]
    assert frames["published"] == 90
    assert frames["delivered"] + frames["lost_before_callback"] + frames["unaccounted"] == 90
    handled = ("skipped", "dropped", "rejected", "used")
    assert sum(frames[key] for key in handled) == frames["delivered"]
    assert frames["used"] >= 10 and report["latency_ms"]["p95"] > 0.0
    assert report["configured_rate_hz"] == 2.0 and report["rss_mb_per_minute"]
    assert "| delivered to the callback |" in run.stdout
