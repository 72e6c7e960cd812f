"""benchmarks/bench_soak.py end to end for a few seconds: three processes, every frame accounted
for, the report's fields filled (the figures themselves are the benchmark's, not a test's)."""

import json
import math
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
    table = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools/soak_table.py"), str(report_path)],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert len(table) == 3 and "10 Hz, model rate, default transport" in table[2]
    assert "load 0.2 cores" in table[2] and f"| {frames['used']} |" in table[2]


def test_rss_growth_is_a_trend_not_the_phase_of_a_sample():
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    from bench_soak import rss_after_first_minute

    def samples(leak_mb_per_s: float) -> list[dict]:
        """10 minutes, a sample every 5 s; every third one taken mid-step (3 MB more)."""
        return [
            {"t_s": 5.0 * i, "rss_mb": 450.0 + 3.0 * (i % 3 == 0) + leak_mb_per_s * 5.0 * i}
            for i in range(1, 121)
        ]

    flat = rss_after_first_minute(samples(0.0))
    assert abs(flat["growth_mb"]) < 0.5 and flat["spread_mb"] == 3.0
    grown = rss_after_first_minute(samples(0.01))  # 0.01 MB/s from minute 2 to minute 10
    assert 4.5 < grown["growth_mb"] < 5.5
    assert math.isnan(rss_after_first_minute([{"t_s": 30.0, "rss_mb": 1.0}])["growth_mb"])
