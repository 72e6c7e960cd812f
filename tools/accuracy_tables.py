"""The README's accuracy tables from `benchmarks/bench_accuracy.py` reports.

    .venv/bin/python tools/accuracy_tables.py "NAME=RUN/accuracy.json" ...

Prints three markdown tables: the synthetic evaluation drives (mean over the drives), the KITTI
sample, and the nuScenes parking lot's net heading; the baselines (the same in every report)
come from the first report.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

MEASURES = (
    "yaw_corr",
    "yaw_spread_ratio",
    "step_corr",
    "step_spread_ratio",
    "rotation_err_deg",
    "auc5",
    "ate_s",
    "ate_m",
)
BASELINES = {
    "opencv_vo_gt_scale": "OpenCV VO (GT scale)",
    "constant_velocity_gt_first_pair": "constant velocity",
}


def row(name: str, methods: list[dict], truth: list[float]) -> str:
    """One table row: each measure's mean over ``methods`` (one dict per drive)."""
    cells = [_mean_cell([m.get(k) for m in methods]) for k in MEASURES]  # "-": not measured
    ratio = float(np.mean([m["net_yaw_deg"] / t for m, t in zip(methods, truth, strict=True)]))
    cells.append(f"{ratio:.2f}")
    return f"| {name} | " + " | ".join(cells) + " |"


def _mean_cell(values: list) -> str:
    """The mean of a measure over drives, or "-" when a report predates the measure."""
    if any(value is None for value in values):
        return "-"
    return f"{float(np.mean(values)):.3g}"


def table(reports: dict[str, dict], drives: list[str]) -> list[str]:
    head = "| model | " + " | ".join(MEASURES) + " | net yaw / true |"
    lines = [head, "|" + "---|" * (len(MEASURES) + 2)]
    first = next(iter(reports.values()))
    truth = [first[d]["ground_truth"]["net_yaw_deg"] for d in drives]
    for key, label in BASELINES.items():
        lines.append(row(label, [first[d][key] for d in drives], truth))
    for name, report in reports.items():
        lines.append(row(name, [report[d]["la_pose"] for d in drives], truth))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", metavar="NAME=accuracy.json")
    args = parser.parse_args()
    reports = {}
    for spec in args.reports:
        name, _, path = spec.partition("=")
        with open(path) as file:
            reports[name] = json.load(file)
    first = next(iter(reports.values()))
    synthetic = sorted(k for k in first if k.startswith("synthetic-seed"))
    seeds = ", ".join(d.removeprefix("synthetic-seed") for d in synthetic)
    print(f"**synthetic {seeds} (mean)**\n")
    print("\n".join(table(reports, synthetic)))
    print("\n**KITTI sample (zero-shot real)**\n")
    print("\n".join(table(reports, ["kitti_sample"])))
    heading = "; ".join(
        f"{name}: {r['nuscenes_front_2hz_c_net_yaw_deg']['la_pose']:.1f}"
        for name, r in reports.items()
    )
    vo = first["nuscenes_front_2hz_c_net_yaw_deg"]["opencv_vo"]
    print(
        f"\n**nuScenes parking lot (no labels), net heading change, degrees left:** "
        f"OpenCV VO {vo:.1f}; {heading}"
    )


if __name__ == "__main__":
    main()
