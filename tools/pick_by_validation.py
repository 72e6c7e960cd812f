"""The trained model with the best AUC@5 over the validation drives, among several runs.

    .venv/bin/python tools/pick_by_validation.py RUN... [--measure auc5]

Each ``RUN/validation/accuracy.json`` is a ``benchmarks/bench_accuracy.py --split validation``
report (synthetic seeds 100-299: never trained on, and not the evaluation drives, which must
not choose the model). Prints each run's figure on stderr and the best run on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HIGHER_IS_BETTER = {"auc5": True, "yaw_corr": True, "step_corr": True, "ate_s": False,
                    "ate_m": False, "rotation_err_deg": False}  # fmt: skip


def validation_figure(run: Path, measure: str) -> float:
    """``measure``'s mean over the validation drives of ``run`` (its model, mirror-averaged or
    not as its checkpoint says)."""
    report = json.loads((run / "validation" / "accuracy.json").read_text())
    if report.get("split") != "validation":
        raise ValueError(f"{run}/validation/accuracy.json is not a --split validation report")
    return float(report["synthetic_mean"]["la_pose"][measure])


def best_run(runs: list[Path], measure: str = "auc5") -> Path:
    figures = {run: validation_figure(run, measure) for run in runs}
    for run, figure in figures.items():
        print(f"{run}: validation {measure} {figure:.4g}", file=sys.stderr)
    pick = max if HIGHER_IS_BETTER[measure] else min
    return pick(figures, key=figures.__getitem__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--measure", default="auc5", choices=sorted(HIGHER_IS_BETTER))
    args = parser.parse_args()
    try:
        print(best_run(args.runs, args.measure))
    except (OSError, ValueError, KeyError) as error:
        sys.exit(f"pick_by_validation: {error}")


if __name__ == "__main__":
    main()
