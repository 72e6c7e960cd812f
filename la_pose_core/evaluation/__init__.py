"""Evaluation reports: metrics.json and a top-view trajectory plot against ground truth."""

from la_pose_core.evaluation.report import write_report

__all__ = ["write_report"]
