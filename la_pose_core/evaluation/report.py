"""Write ``metrics.json`` and ``trajectory.png`` for estimated trajectories against ground truth.

Trajectories are camera-to-world poses of the camera optical frame (``geometry`` conventions).
Each is anchored at its first frame (``inv(T[0]) @ T``) before plotting, so the plot shows
odometry as it was produced, drift included: no alignment hides anything. The top view is the
camera's x (right) against z (forward) of the first frame. Metrics come from
:func:`la_pose_core.metrics.evaluate_trajectory` (which aligns per clip, as the paper does).
"""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from la_pose_core.geometry import inverse
from la_pose_core.json_output import dumps
from la_pose_core.metrics import EVAL_CLIP_LEN, evaluate_trajectory
from la_pose_core.metrics.pairwise import STILL_THRESHOLD_M

GROUND_TRUTH_STYLE = {"color": "black", "linewidth": 2.0, "label": "ground truth"}


def anchored(world_from_cam: np.ndarray) -> np.ndarray:
    """The trajectory expressed in its first camera's frame."""
    return inverse(world_from_cam[0]) @ world_from_cam


def plot_top_view(
    path: Path, ground_truth: np.ndarray, estimates: dict[str, np.ndarray], title: str
) -> None:
    figure = Figure(figsize=(7, 7))  # no pyplot: no GUI backend, no global state
    axes = figure.subplots()
    centres = anchored(ground_truth)[:, :3, 3]
    axes.plot(centres[:, 0], centres[:, 2], **GROUND_TRUTH_STYLE)
    for order, (name, trajectory) in enumerate(estimates.items()):
        centres = anchored(trajectory)[:, :3, 3]
        # the first method (the one evaluated) is drawn on top of the baselines
        axes.plot(centres[:, 0], centres[:, 2], linewidth=1.5, label=name, zorder=10 - order)
    axes.plot([0.0], [0.0], "o", color="black")
    axes.set_xlabel("x: right of the first camera (m)")
    axes.set_ylabel("z: ahead of the first camera (m)")
    axes.set_aspect("equal", adjustable="datalim")
    axes.grid(True, alpha=0.3)
    axes.legend()
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def write_report(
    out_dir: str | Path,
    ground_truth: np.ndarray,
    estimates: dict[str, np.ndarray],
    clip_len: int = EVAL_CLIP_LEN,
    title: str = "top view",
    extra: dict | None = None,
    still_threshold_m: float = STILL_THRESHOLD_M,
) -> dict:
    """Evaluate every ``(N, 4, 4)`` estimate against ``(N, 4, 4)`` ground truth; write both files.

    Returns the metrics dict written to ``metrics.json``: ``{name: metrics, ...}`` plus ``extra``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = {
        name: evaluate_trajectory(ground_truth, trajectory, clip_len, still_threshold_m)
        for name, trajectory in estimates.items()
    }
    report = {"methods": metrics, **(extra or {})}
    (out_dir / "metrics.json").write_text(dumps(report))
    plot_top_view(out_dir / "trajectory.png", ground_truth, estimates, title)
    return report
