"""The README's soak table from `benchmarks/bench_soak.py` reports.

    .venv/bin/python tools/soak_table.py benchmarks/results/soak/*.json

One markdown row per report: the run (frames, camera rate, output rate, transport, minutes,
background load, non-default node parameters), then each of issue 16's measures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HEADER = (
    "| run | published | delivered | lost before the callback | dropped | used | restarts "
    "| latency p50/p95/p99 ms | odometry Hz (configured) | node CPU (cores) "
    "| RSS growth / spread after minute 1, MB |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)
DEFAULT_OVERRIDES = ("model.checkpoint", "model.device", "output_rate.mode")


def describe(report: dict) -> str:
    camera = report["camera"]
    parts = [
        f"{camera['size']} {camera['encoding']} {camera['target_rate_hz']:g} Hz",
        f"{report['output_rate']} rate",
        f"{report['transport']} transport",
        f"{report['minutes']:g} min",
    ]
    if report.get("background_load_cores"):
        parts.append(f"load {report['background_load_cores']:g} cores")
    parts += [
        f"{name}={value}"
        for name, value in report["overrides"].items()
        if name not in DEFAULT_OVERRIDES
    ]
    return ", ".join(parts)


def row(report: dict) -> str:
    frames, latency = report["frames"], report["latency_ms"]
    cells = [
        describe(report),
        f"{frames['published']}",
        f"{frames['delivered_share']:.3%}",
        f"{frames['lost_before_callback']}",
        f"{frames['dropped']}",
        f"{frames['used']}",
        f"{report['tracking_restarts']}",
        f"{latency['p50']:.0f}/{latency['p95']:.0f}/{latency['p99']:.0f}",
        f"{report['odometry_rate_hz']:.3f} ({report['configured_rate_hz']:g})",
        f"{report['node_cpu_share']:.2f}",
        f"{report['rss_growth_after_first_minute_mb']:.1f} / "
        f"{report.get('rss_spread_after_first_minute_mb', float('nan')):.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    args = parser.parse_args()
    print(HEADER)
    for path in args.reports:
        print(row(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
