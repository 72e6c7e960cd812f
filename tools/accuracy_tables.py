"""The README's accuracy tables from `benchmarks/bench_accuracy.py` reports.

    .venv/bin/python tools/accuracy_tables.py "NAME=RUN/accuracy.json" ...

Prints markdown tables: the synthetic evaluation drives (mean over the drives), the KITTI
sample, the nuScenes parking lot's net heading, and its mirror check for the reports that have
one; the baselines (the same in every report) come from the first report.
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
    print("\n" + nuscenes_line(reports))
    checked = {n: r for n, r in reports.items() if "nuscenes_front_2hz_c_mirror_check" in r}
    if checked:
        print("\n**nuScenes parking lot, mirror check (degrees left)**\n")
        print("\n".join(mirror_check_table(checked)))


def nuscenes_line(reports: dict[str, dict]) -> str:
    """The parking lot's net heading per report; where a report has it, also over the pairs
    OpenCV VO tracked (it repeats its previous motion where it fails)."""
    first = next(iter(reports.values()))["nuscenes_front_2hz_c_net_yaw_deg"]
    parts = []
    for name, report in reports.items():
        heading = report["nuscenes_front_2hz_c_net_yaw_deg"]
        tracked = heading.get("la_pose_where_vo_tracks")
        parts.append(
            f"{name}: {heading['la_pose']:.1f}"
            + ("" if tracked is None else f" ({tracked:.1f} where VO tracks)")
        )
    vo = f"OpenCV VO {first['opencv_vo']:.1f}"
    if "opencv_vo_where_it_tracks" in first:
        tracked_pairs = first["pairs"] - first["opencv_vo_failed_pairs"]
        vo += (
            f" ({first['opencv_vo_where_it_tracks']:.1f} over the {tracked_pairs} of "
            f"{first['pairs']} pairs it tracks)"
        )
    return (
        "**nuScenes parking lot (no labels), net heading change, degrees left:** "
        f"{vo}; " + "; ".join(parts)
    )


def mirror_check_table(reports: dict[str, dict]) -> list[str]:
    """What each model sees of the parking lot's turns and what it adds on the footage and its
    mirror image alike, over all pairs and over the pairs VO tracks in both; VO's row from the
    first report."""
    lines = [
        "| method | seen, all pairs | bias, all pairs | seen, VO tracks | bias, VO tracks |",
        "|---|---|---|---|---|",
    ]
    first = next(iter(reports.values()))["nuscenes_front_2hz_c_mirror_check"]
    vo = "opencv_vo_where_it_tracks_both"
    seen, bias = first[f"{vo}_seen_deg"], first[f"{vo}_bias_deg"]
    lines.append(f"| OpenCV VO | - | - | {seen:.1f} | {bias:.1f} |")
    for name, report in reports.items():
        check = report["nuscenes_front_2hz_c_mirror_check"]
        cells = [
            check[f"{label}_{part}_deg"]
            for label in ("la_pose", "la_pose_where_vo_tracks_both")
            for part in ("seen", "bias")
        ]
        lines.append(f"| {name} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    return lines


if __name__ == "__main__":
    main()
